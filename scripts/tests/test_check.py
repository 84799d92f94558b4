"""`papers check` and `papers index` catch what they promise to catch, on a small fake repo."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from papers_cli import check
from papers_cli.__main__ import PapersError, main
from papers_cli.index import END, START, updated_readme
from papers_cli.new import scaffold
from papers_cli.repo import papers


def make_repo(root: Path) -> Path:
    (root / "papers").mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "x"
        [dependency-groups]
        dev = [
            "pytest",
        ]

        [tool.uv.sources]
        papers-shared = { workspace = true }
        """))
    (root / "README.md").write_text(f"# x\n\n{START}\n{END}\n")
    (root / "papers/glossary.md").write_text("# Glossary\n\n## Attention\n\nA weighted average.\n")
    (root / "papers/maths.md").write_text("# Maths\n\n## Softmax\n\nExponentiate, then normalise.\n")
    for number, name in ((21, "alpha"), (22, "beta")):
        scaffold(root, number, name, name.title(), "A. Author", 2026, "Foundations")
    return root


def test_fresh_fake_repo_is_clean(tmp_path):
    assert check.problems(make_repo(tmp_path)) == []


def test_a_paper_importing_another_is_caught(tmp_path):
    root = make_repo(tmp_path)
    (root / "papers/22_beta/beta/model.py").write_text("from alpha.model import Model\n")
    assert any("imports paper 21_alpha" in p for p in check.problems(root))


def test_a_missing_file_and_missing_claim_test_are_caught(tmp_path):
    root = make_repo(tmp_path)
    (root / "papers/21_alpha/notes.md").unlink()
    (root / "papers/21_alpha/tests/test_claim.py").unlink()
    found = check.problems(root)
    assert "21_alpha: missing notes.md" in found
    assert "21_alpha: no test marked @pytest.mark.claim" in found


def test_a_broken_link_is_caught_but_code_and_urls_are_not(tmp_path):
    root = make_repo(tmp_path)
    notes = root / "papers/21_alpha/notes.md"
    notes.write_text("[ok](README.md) [web](https://x.org/a.md) `[code](nope.md)` ![fig](figures/none.png)\n")
    assert [p for p in check.problems(root) if "broken link" in p] == [
        "papers/21_alpha/notes.md: broken link figures/none.png"
    ]


def test_a_broken_anchor_is_caught_and_good_ones_pass(tmp_path):
    root = make_repo(tmp_path)
    (root / "papers/glossary.md").write_text(textwrap.dedent("""\
        # Glossary

        ## Layer norm (pre-LN, post-LN)

        ## Layer norm (pre-LN, post-LN)

        Logits and `x W + b`
        --------------------

        <a id="kv-cache"></a>

        ```
        ## Not a heading
        <a id="in-code"></a>
        ```

        ~~~text
        [in a fence](#nowhere)
        ~~~
        """))
    notes = root / "papers/21_alpha/notes.md"
    notes.write_text(textwrap.dedent(f"""\
        # Alpha: notes

        {check.GLOSSARY_LINE}

        ## 3.1 Tokens to vectors: $h_0 = U W_e$

        [ok](../glossary.md#layer-norm-pre-ln-post-ln) [dup](../glossary.md#layer-norm-pre-ln-post-ln-1)
        [setext](../glossary.md#logits-and-x-w--b) [html](../glossary.md#kv-cache)
        [here](#31-tokens-to-vectors-h_0--u-w_e)
        [web](https://x.org/a.md#nope) [code](alpha/model.py#L3) `[inline](#nope)`
        [bad](../glossary.md#layer-norm) [third](../glossary.md#layer-norm-pre-ln-post-ln-2)
        [fenced](../glossary.md#not-a-heading) [self](#nope) [code-id](../glossary.md#in-code)
        """))
    assert [p for p in check.problems(root) if "broken" in p] == [
        "papers/21_alpha/notes.md: broken anchor ../glossary.md#layer-norm (no heading with that slug in "
        "papers/glossary.md)",
        "papers/21_alpha/notes.md: broken anchor ../glossary.md#layer-norm-pre-ln-post-ln-2 (no heading with that "
        "slug in papers/glossary.md)",
        "papers/21_alpha/notes.md: broken anchor ../glossary.md#not-a-heading (no heading with that slug in "
        "papers/glossary.md)",
        "papers/21_alpha/notes.md: broken anchor #nope (no heading with that slug in papers/21_alpha/notes.md)",
        "papers/21_alpha/notes.md: broken anchor ../glossary.md#in-code (no heading with that slug in "
        "papers/glossary.md)",
    ]


@pytest.mark.parametrize("heading, slug", [
    ("3.6 Residual connections and layer normalisation (post-LN)",
     "36-residual-connections-and-layer-normalisation-post-ln"),
    ("4.1 Tokens to vectors: $h_0 = U W_e + W_p$", "41-tokens-to-vectors-h_0--u-w_e--w_p"),
    ("The `papers_cli` *template*, _now_ [linked](x.md)", "the-papers_cli-template-now-linked"),
    ("2. What changed from GPT, in one table", "2-what-changed-from-gpt-in-one-table"),
    ("Déjà vu: 16x16 words", "déjà-vu-16x16-words"),
    ('<a name="foo"></a> Foo', "-foo"),
    ("Pre-LN &amp; post-LN -- compared", "pre-ln--post-ln----compared"),
])
def test_github_slug_follows_githubs_rules(heading, slug):
    assert check.github_slug(heading) == slug


def test_notes_without_the_glossary_link_are_caught(tmp_path):
    root = make_repo(tmp_path)
    for name in ("21_alpha", "22_beta"):
        (root / f"papers/{name}/notes.md").write_text(f"# {name}: notes\n\n{check.GLOSSARY_LINE}\n\nText.\n")
    assert check.check_glossary(root, papers(root)) == []
    (root / "papers/22_beta/notes.md").write_text("# Beta: notes\n\n`[glossary](../glossary.md)` in code only.\n")
    assert check.check_glossary(root, papers(root)) == [
        f"papers/22_beta/notes.md: does not link ../glossary.md; put this line under the title: {check.GLOSSARY_LINE}"
    ]


def test_a_missing_glossary_or_maths_file_is_caught(tmp_path):
    root = make_repo(tmp_path)
    (root / "papers/maths.md").unlink()
    found = check.problems(root)
    assert "papers/maths.md: missing (the repo-wide glossary and maths quick reference live in papers/)" in found
    assert not any(p.startswith("papers/glossary.md: missing") for p in found)
    (root / "papers/glossary.md").unlink()
    found = check.problems(root)
    assert "papers/glossary.md: missing (the repo-wide glossary and maths quick reference live in papers/)" in found


def test_a_stale_index_and_a_paper_missing_from_the_workspace_are_caught(tmp_path):
    root = make_repo(tmp_path)
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("| in progress |", "| done |", 1))
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "beta",\n', ""))
    found = check.problems(root)
    assert any("paper table is out of date" in p for p in found)
    assert any("22_beta: 'beta' is not in the root dev group" in p for p in found)


def test_index_marks_planned_and_in_progress_honestly(tmp_path):
    root = make_repo(tmp_path)
    _, fresh = updated_readme(root)
    assert "| 01 | Attention Is All You Need (Vaswani et al., 2017) |" in fresh and "| planned |" in fresh
    assert "[Alpha](papers/21_alpha/README.md)" in fresh


@pytest.mark.parametrize("number, name, message", [(21, "gamma", "taken"), (23, "Bad-Name", "lowercase"),
                                                   (23, "alpha", "exists already"), (0, "zero", "between 1 and 99")])
def test_new_rejects_bad_requests(tmp_path, number, name, message):
    root = make_repo(tmp_path)
    with pytest.raises(PapersError, match=message):
        scaffold(root, number, name, "T", "A", 2026, "Foundations")


def test_cli_reports_errors_in_one_line(capsys):
    assert main(["train", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "papers train: error: no paper matches '99' under papers/ (try a number like 01 or a folder name)"
    assert main(["bench", "77"]) == 2


def test_papers_train_runs_the_paper_module_in_a_fresh_process(tmp_path):
    """The learner's path end to end, once for the repo: `papers train 01 ...` starts
    `python -m attention_is_all_you_need.train fit ...` in a new interpreter, whose bad setting is one
    line on stderr and exit status 2. (Each paper's own `python -m` test runs in-process; see
    `shared.testing.TrainCLITests.test_module_runs_as_a_script`.)"""
    proc = subprocess.run([sys.executable, "-m", "papers_cli", "train", "01", "--run.root", str(tmp_path),
                           "--model.n_heads", "5"], capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stderr.strip()) == (2, "error: d_model (64) must be divisible by n_heads (5)")
    runs = tmp_path / "01_attention_is_all_you_need"
    assert not runs.exists() or not any(runs.iterdir()), "a rejected setting left a run folder behind"


@pytest.mark.parametrize("name", ["aardvark_net", "zebra_net"])
def test_a_scaffolded_paper_passes_ruff_whatever_its_name_sorts_against_shared(tmp_path, name):
    """The template's test imports `shared.testing` and the paper's package; isort's order depends on the name
    (`aardvark_net` sorts before `shared`, `zebra_net` after)."""
    root = make_repo(tmp_path)
    scaffold(root, 30, name, "T", "A", 2026, "Foundations")
    folder = root / "papers" / f"30_{name}"
    ruff = shutil.which("ruff")
    assert ruff, "ruff is in the dev group"
    proc = subprocess.run([ruff, "check", "--isolated", "--select", "I", "--line-length", "120", str(folder)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
