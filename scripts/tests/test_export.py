"""`papers export`: maths and tables become images, figures become absolute URLs, code survives."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from papers_cli.__main__ import PapersError, main
from papers_cli.export import export_article, extract_maths, to_mathtext
from papers_cli.repo import papers, repo_root

BASE = "https://example.org/repo/main"
REPO = repo_root(Path(__file__))

ARTICLE = r"""# A test article with $\alpha$ in the title

Inline maths $x W + b$ and $\sqrt{d_k}$, a literal \$5 price and "costs $5 and $10" (not maths).

$$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V$$

A two-line display:

$$
\begin{aligned}
a &= \text{first line} \\
b &= \operatorname{second}(a)
\end{aligned}
$$

Code keeps its dollars and pipes: `price = $x$` stays.

```python
cost = "$not maths$"
table = "| a | b |\n|---|---|"
```

| quantity | value |
|---|---|
| $d_k$ | 16 |
| **bold** cell | `code` |

![The figure](figures/fig.png)

See [the notes](notes.md#section) and [the paper](https://arxiv.org/abs/1706.03762).
"""


def make_repo(tmp_path: Path, article: str = ARTICLE) -> tuple[Path, Path]:
    root = tmp_path / "repo"
    paper = root / "papers" / "99_test_paper"
    (paper / "figures").mkdir(parents=True)
    shutil.copy(REPO / "papers" / "01_attention_is_all_you_need" / "figures" / "training_curves.png",
                paper / "figures" / "fig.png")
    (paper / "notes.md").write_text("# notes\n")
    (paper / "article.md").write_text(article)
    return root, paper


def assert_medium_ready(document: str, root: Path, base: str, need_images: bool = True) -> None:
    """No maths, no Markdown or HTML table outside code; every image an existing file under base."""
    outside_code = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", "", document, flags=re.S)
    text_only = re.sub(r"<[^>]+>", "", outside_code)  # alt text holds the LaTeX source, by design
    # TeX-style inline maths: a $ with text right after it, closed by a $ with text right before it.
    assert not re.search(r"\$(?=\S)[^$]*?(?<=\S)\$(?!\d)", html.unescape(text_only)), "inline maths survived"
    assert "$$" not in text_only
    assert "<table" not in outside_code
    assert not re.search(r"^\s*\|?\s*:?-{3,}", html.unescape(text_only), flags=re.M), "a Markdown table survived"
    sources = re.findall(r"<img [^>]*src=\"([^\"]+)\"", document)
    if need_images:
        assert sources, "no images at all"
    for src in sources:
        assert src.startswith(base + "/"), src
        local = root / src[len(base) + 1:]
        assert local.is_file(), f"{src} does not exist at {local}"
        assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_synthetic_article(tmp_path):
    root, paper = make_repo(tmp_path)
    out = export_article(paper / "article.md", paper / "export", BASE, root, link_base="https://example.org/blob")
    document = out.read_text()
    assert_medium_ready(document, root, BASE)
    images = re.findall(r"<img [^>]*src=\"([^\"]+)\"", document)
    assert sum("/math-" in s for s in images) == 5  # alpha, xW+b, sqrt d_k, two displays (d_k: in the table)
    assert sum("/table-" in s for s in images) == 1
    assert f"{BASE}/papers/99_test_paper/figures/fig.png" in images
    # Code is kept verbatim (HTML-escaped), dollars and pipes included.
    assert html.escape('cost = "$not maths$"', quote=False) in document.replace("&quot;", '"')
    assert "|---|---|" in document
    assert "<code>price = $x$</code>" in document
    # Literal dollars stay text; links to repo files become absolute; external links untouched.
    assert "$5 price" in document and "costs $5 and $10" in document
    assert 'href="https://example.org/blob/papers/99_test_paper/notes.md#section"' in document
    assert 'href="https://arxiv.org/abs/1706.03762"' in document
    assert "<title>A test article with \\alpha in the title</title>" in document


def test_export_is_deterministic(tmp_path):
    root, paper = make_repo(tmp_path)
    first = export_article(paper / "article.md", paper / "export", BASE, root).read_bytes()
    images = {p.name: p.read_bytes() for p in (paper / "export" / "images").iterdir()}
    shutil.rmtree(paper / "export")
    second = export_article(paper / "article.md", paper / "export", BASE, root).read_bytes()
    assert first == second
    assert images == {p.name: p.read_bytes() for p in (paper / "export" / "images").iterdir()}


def test_maths_extraction_skips_code_and_escaped_dollars():
    found = extract_maths("a $x$ `$y$` \\$z\n```\n$w$\n```\n$$u$$ and $5 or $6\n")
    assert [(f.latex, f.display) for f in found.formulas] == [("x", False), ("u", True)]
    assert "`$y$`" in found.text and "\n$w$\n" in found.text and "\\$z" in found.text


def test_to_mathtext_rewrites_what_mathtext_lacks():
    assert to_mathtext(r"\text{a b} + \operatorname{softmax}(x)") == [r"\mathrm{a\ b} + \mathrm{softmax}(x)"]
    assert to_mathtext(r"\begin{aligned} a &= 1 \\ b &= 2 \end{aligned}") == ["a  = 1", "b  = 2"]
    assert to_mathtext(r"\textbf{x}") == [r"\mathbf{x}"]


def test_missing_figure_is_an_error(tmp_path):
    root, paper = make_repo(tmp_path, "# T\n\n![gone](figures/missing.png)\n")
    with pytest.raises(PapersError, match="figure 'figures/missing.png' not found"):
        export_article(paper / "article.md", paper / "export", BASE, root)


def test_unrenderable_formula_is_an_error(tmp_path):
    root, paper = make_repo(tmp_path, "# T\n\nBad $\\notacommand{x}$ here.\n")
    with pytest.raises(PapersError, match=r"cannot render formula \$\\notacommand\{x\}\$"):
        export_article(paper / "article.md", paper / "export", BASE, root)


def test_broken_link_is_an_error(tmp_path):
    root, paper = make_repo(tmp_path, "# T\n\n[x](nowhere.md)\n")
    with pytest.raises(PapersError, match="link target 'nowhere.md' not found"):
        export_article(paper / "article.md", paper / "export", BASE, root)


def test_cli_rejects_a_relative_base_url(capsys):
    assert main(["export", "01", "--base-url", "figures"]) == 2
    assert "--base-url must start with http" in capsys.readouterr().err


@pytest.mark.parametrize("paper", [p for p in papers(REPO) if (p.folder / "article.md").is_file()],
                         ids=lambda p: p.name)
def test_every_article_exports_cleanly(paper, tmp_path):
    """Each paper's real article, exported in a copy of its folder (the repo is not written to).

    A finished article carries figures; a freshly scaffolded one (status not done) may not yet.
    """
    root = tmp_path / "repo"
    shutil.copytree(paper.folder, root / "papers" / paper.name,
                    ignore=shutil.ignore_patterns("export", "__pycache__", "*.ckpt"))
    # Articles may link to files outside their folder (README, other docs): copy those too.
    for name in ("README.md", "CONTRIBUTING.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, root / name)
    copy = root / "papers" / paper.name
    out = export_article(copy / "article.md", copy / "export", BASE, root)
    assert_medium_ready(out.read_text(), root, BASE, need_images=paper.meta.get("status") == "done")


def test_raw_html_image_with_a_local_path_is_an_error(tmp_path):
    root, paper = make_repo(tmp_path, '# T\n\n<img src="figures/fig.png">\n')
    with pytest.raises(PapersError, match="raw HTML <img> with a local path"):
        export_article(paper / "article.md", paper / "export", BASE, root)


def _image_file(src: str, root: Path, out: Path, base: str) -> Path:
    """The local file behind an image URL: a repo file under the base URL, or an export image."""
    if src.startswith(base + "/"):
        return root / src[len(base) + 1:]
    assert src.startswith(out.resolve().as_uri() + "/images/"), src
    return out / "images" / src.rsplit("/", 1)[1]


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_cli_exports_paper_01_outside_the_repo(tmp_path, monkeypatch, capsys, relative):
    """`papers export 01 --out DIR` with DIR outside the repo: the HTML and every image it names exist."""
    out = tmp_path / "outside" / "export_01"
    assert not out.resolve().is_relative_to(REPO)
    if relative:
        monkeypatch.chdir(tmp_path)  # --out given relative to the working directory
    assert main(["export", "01", "--out", "outside/export_01" if relative else str(out),
                 "--base-url", BASE]) == 0
    document = (out / "article.html").read_text()
    sources = re.findall(r"<img [^>]*src=\"([^\"]+)\"", document)
    assert any("/math-" in s for s in sources) and any("/table-" in s for s in sources)
    assert any(s.startswith(f"{BASE}/papers/01_attention_is_all_you_need/figures/") for s in sources)
    for src in sources:
        assert _image_file(src, REPO, out, BASE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", src
    # Every generated image is used, and nothing but the HTML and images/ was written.
    assert {p.name for p in (out / "images").iterdir()} == {s.rsplit("/", 1)[1] for s in sources
                                                           if not s.startswith(BASE + "/")}
    assert sorted(p.name for p in out.iterdir()) == ["article.html", "images"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["export_01"]  # no staging folder left beside it
    assert "publish" in capsys.readouterr().out


def test_export_outside_the_repo_with_an_images_url(tmp_path):
    root, paper = make_repo(tmp_path)
    out = tmp_path / "elsewhere"
    document = export_article(paper / "article.md", out, BASE, root,
                              images_url="https://cdn.example.org/a1").read_text()
    generated = re.findall(r"<img [^>]*src=\"(https://cdn\.example\.org/a1/[^\"]+)\"", document)
    assert len(generated) == 6  # 5 formulas and 1 table
    for src in generated:
        assert (out / "images" / src.rsplit("/", 1)[1]).is_file()


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_a_failed_export_leaves_no_partial_output(tmp_path, where):
    """A table is rendered before the missing figure is found: none of it may stay on disk."""
    root, paper = make_repo(tmp_path, "# T\n\n| a | b |\n|---|---|\n| $x$ | 1 |\n\n$$y$$\n\n"
                                      "![gone](figures/missing.png)\n")
    out = paper / "export" if where == "inside" else tmp_path / "out" / "nested" / "export"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(PapersError, match="figure 'figures/missing.png' not found"):
        export_article(paper / "article.md", out, BASE, root)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_failed_re_export_keeps_the_previous_export(tmp_path):
    root, paper = make_repo(tmp_path)
    out = tmp_path / "out"
    export_article(paper / "article.md", out, BASE, root)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (paper / "article.md").write_text("# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![gone](figures/missing.png)\n")
    with pytest.raises(PapersError, match="not found"):
        export_article(paper / "article.md", out, BASE, root)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "repo"]


def test_cli_unwritable_out_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    assert main(["export", "01", "--out", str(blocker / "export"), "--base-url", BASE]) == 2
    assert main(["export", "01", "--out", str(blocker), "--base-url", BASE]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors[0].startswith(f"papers export: error: cannot write the export to {blocker / 'export'}")
    assert errors[1] == f"papers export: error: --out {blocker} exists and is not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"] and blocker.read_text() == "not a folder\n"
