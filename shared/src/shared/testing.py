"""Test helpers every paper uses, so each paper's tests hold only what is its own.

Two pieces (pytest is needed to use them; the workspace's dev group installs it):

`TrainCLITests`: the tests every train entry point must pass, as a base class. A paper's
`tests/test_train_cli.py` subclasses it and fills in its own settings:

    class TestTrainCLI(TrainCLITests):
        main = staticmethod(main)                 # the paper's train.main
        paper = "09_llama"                        # the folder name, = the run folder's parent
        tiny = ["--model.d_model", "16", ...]     # a config that trains in about a second
        resume_cases = {"mid_epoch": (["--trainer.max_steps", "6"], ["--trainer.max_steps", "3"]), ...}
        changed_setting = ["--model.d_model", "32"]
        wrong_settings = [(["--model.n_heads", "5"], "n_heads"), ...]
        help_settings = ("--model.d_model", ...)
        script = ("llama.train", ["--model.n_heads", "5"], "error: d_model (64) must be divisible by n_heads (5)")

        def check_smoke(self, results, run_dir):  # what a fast_dev_run must produce
            assert set(results["metrics"]) == {...}

and gets: the smoke run, resume equals an uninterrupted run (for every stop in `resume_cases`,
a mid-epoch stop among them), a resume with changed settings or a corrupt checkpoint refused
in one line without touching the old run, `--ckpt_path last` with no earlier run, each wrong
setting as one line naming it (and no run folder left behind), `--help`, and `python -m`.

`PaperText`: the notes, article and README of a paper, for tests that recompute the numbers the
text quotes (`TEXT.in_notes("$e^{1.4142} = 4.1133$")` fails with the missing phrase), and that hold
the notes' maths-to-code table and the article's code excerpts to the real code.

`run_default_config`: a claim test's run of the paper's default config, returning what it wrote.
"""

from __future__ import annotations

import csv
import inspect
import json
import re
import runpy
import sys
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# --- the train CLI ---------------------------------------------------------------------------------


class TrainCLI:
    """Runs a paper's train `main` under a temporary runs folder and reads back what a run wrote."""

    def __init__(self, main: Callable[[list[str]], Any], paper: str, root: Path, base: Sequence[str] = (),
                 test_prefixes: tuple[str, ...] = ("test/",)) -> None:
        self.main, self.paper, self.root, self.base = main, paper, Path(root), list(base)
        self.test_prefixes = test_prefixes  # how the end-of-fit test metrics are named in metrics.csv

    def args(self, *extra: str) -> list[str]:
        return ["fit", "--run.root", str(self.root), *self.base, *extra]

    def fit(self, *extra: str) -> None:
        self.main(self.args(*extra))

    def run_dir(self, name: str) -> Path:
        return self.root / self.paper / name

    def results(self, name: str) -> dict:
        return json.loads((self.run_dir(name) / "results.json").read_text())

    def fit_rows(self, name: str) -> list[dict[str, str]]:
        """metrics.csv without the end-of-fit test rows (a resumed run's first session has its own)."""
        rows = list(csv.DictReader((self.run_dir(name) / "metrics.csv").open()))
        return [r for r in rows if not any(v for k, v in r.items() if k.startswith(self.test_prefixes))]

    def error(self, capsys, *extra: str, code: int = 2) -> str:
        """Run with `extra`, expect exit `code` and exactly one error line on stderr; return it."""
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            self.main(self.args(*extra))
        lines = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("run folder:")]
        assert info.value.code == code, (info.value.code, lines)
        assert len(lines) == 1 and lines[0].startswith("error:"), lines
        return lines[0]


def files_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: equal snapshots mean nothing was touched."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_resume_matches(cli: TrainCLI, full: Sequence[str], stop: Sequence[str],
                          compare_rows: bool = True) -> tuple[dict, dict]:
    """Train `full` straight through; train `stop`, then resume it to `full` with `--ckpt_path last`.

    Both must end at the same step and epoch with the same test metrics and the same training and
    validation rows in metrics.csv, exactly: the same batches in the same order, the same dropout.
    `compare_rows=False` is for a paper that logs only epoch means of training metrics: a session
    stopped mid-epoch writes the mean of its part of the epoch, so those rows cannot match.
    """
    cli.fit(*full, "--run.name", "straight")
    cli.fit(*stop, "--run.name", "resumed")
    assert (cli.run_dir("resumed") / "checkpoints" / "last.ckpt").is_file()
    first = cli.results("resumed")["global_step"]
    cli.fit(*full, "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = cli.results("straight"), cli.results("resumed")
    assert 0 < first < straight["global_step"], "the first session must stop before the end"
    assert (resumed["global_step"], resumed["epochs"]) == (straight["global_step"], straight["epochs"])
    assert resumed["metrics"] == straight["metrics"]
    if compare_rows:
        rows = cli.fit_rows("straight")
        assert rows and cli.fit_rows("resumed") == rows
    return straight, resumed


class TrainCLITests:
    """The tests every paper's train entry point must pass; see the module docstring."""

    main: Callable[[list[str]], Any]
    paper: str
    tiny: list[str] = []
    smoke: list[str] = ["--trainer.fast_dev_run", "2"]
    # name -> (arguments of the whole run, arguments that stop the first session early)
    resume_cases: dict[str, tuple[list[str], list[str]]] = {}
    changed_setting: list[str] = []  # a --model.* override the tiny run's checkpoint must refuse
    wrong_settings: list[tuple[list[str], str]] = []  # (arguments, what the one-line error must name)
    help_settings: Sequence[str] = ()
    script: tuple[str, list[str], str] | None = None  # (module, arguments, the exact stderr line)
    test_prefixes: tuple[str, ...] = ("test/",)  # names of the end-of-fit test metrics
    epoch_mean_training_logs = False  # True: metrics.csv rows are not compared after a mid-epoch stop

    def check_smoke(self, results: dict, run_dir: Path) -> None:
        """What the paper's fast_dev_run must write; override with the paper's metrics and figures."""
        raise NotImplementedError(f"{type(self).__name__} must say what its smoke run writes (check_smoke)")

    def pytest_generate_tests(self, metafunc) -> None:
        if "resume_case" in metafunc.fixturenames:
            metafunc.parametrize("resume_case", list(self.resume_cases.values()), ids=list(self.resume_cases))
        if "wrong_setting" in metafunc.fixturenames:
            metafunc.parametrize("wrong_setting", self.wrong_settings,
                                 ids=[" ".join(args)[:60] for args, _ in self.wrong_settings])

    @pytest.fixture
    def cli(self, tmp_path) -> TrainCLI:
        return TrainCLI(type(self).main, self.paper, tmp_path, [*self.tiny, "--trainer.enable_progress_bar", "false",
                                                               "--trainer.enable_model_summary", "false"],
                        self.test_prefixes)

    def test_fast_dev_run_end_to_end(self, cli):
        cli.fit(*self.smoke, "--run.name", "smoke")
        results = cli.results("smoke")
        assert results["command"].startswith("python -m ") and "--run.name smoke" in results["command"]
        self.check_smoke(results, cli.run_dir("smoke"))

    def test_resume_matches_uninterrupted_run(self, cli, resume_case):
        full, stop = resume_case
        assert_resume_matches(cli, full, stop, compare_rows=not self.epoch_mean_training_logs)

    def test_bad_resume_is_one_line_error_and_leaves_the_run_alone(self, cli, capsys, tmp_path):
        assert self.changed_setting, "set changed_setting to a --model.* override"
        full, stop = next(iter(self.resume_cases.values()))
        cli.fit(*stop, "--run.name", "old")
        run = cli.run_dir("old")
        before = files_snapshot(run)
        setting = self.changed_setting[0].removeprefix("--")
        # Changed settings, through `last` and through the file itself.
        assert setting in cli.error(capsys, *full, *self.changed_setting, "--ckpt_path", "last")
        ckpt = str(run / "checkpoints" / "last.ckpt")
        assert setting in cli.error(capsys, *full, *self.changed_setting, "--ckpt_path", ckpt)
        # A truncated checkpoint: one line naming the file.
        broken = tmp_path / "broken.ckpt"
        broken.write_bytes((run / "checkpoints" / "last.ckpt").read_bytes()[:2000])
        assert str(broken) in cli.error(capsys, *full, "--ckpt_path", str(broken))
        assert files_snapshot(run) == before
        assert sorted(p.name for p in run.parent.iterdir()) == ["old"]

    def test_ckpt_path_last_without_earlier_run_is_one_line_error(self, cli, capsys):
        assert "last.ckpt" in cli.error(capsys, "--ckpt_path", "last")

    def test_wrong_setting_is_one_line_error_naming_it(self, cli, capsys, wrong_setting):
        args, named = wrong_setting
        assert named in cli.error(capsys, *args)
        runs = cli.root / self.paper
        assert not runs.exists() or not any(runs.iterdir()), "a rejected setting left a run folder behind"

    def test_help_lists_every_setting(self, capsys):
        with pytest.raises(SystemExit) as info:
            type(self).main(["fit", "--help"])
        out = capsys.readouterr().out
        assert info.value.code == 0
        for setting in (*self.help_settings, "--trainer.precision", "--ckpt_path", "--config", "--run.threads"):
            assert setting in out, setting

    def test_module_runs_as_a_script(self, tmp_path, monkeypatch, capsys):
        """`python -m <package>.train fit ...`: the module's `__main__` block runs the CLI.

        runpy finds and runs the module as `__main__` exactly as `python -m` does, here in this
        process: a fresh interpreter would spend about 25 s importing Lightning again, per paper.
        One real `papers train` subprocess (scripts/tests/test_check.py) covers the whole path once.
        """
        if self.script is None:
            pytest.fail("set script = (module, arguments, expected stderr line)")
        module, args, expected = self.script
        monkeypatch.setattr(sys, "argv", [module, "fit", "--run.root", str(tmp_path), *args])
        monkeypatch.delitem(sys.modules, module, raising=False)  # run the file afresh, as `-m` does
        with pytest.raises(SystemExit) as info:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        assert (info.value.code, capsys.readouterr().err.strip()) == (2, expected)


# --- the text ----------------------------------------------------------------------------------------


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


class PaperText:
    """A paper's notes, article and README, for tests that check the numbers they quote.

    `PaperText.of(__file__)` from any file in the paper's `tests/`. Line breaks never matter:
    a phrase matches however the prose around it is wrapped.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def of(cls, test_file: str | Path) -> PaperText:
        return cls(Path(test_file).resolve().parents[1])

    @cached_property
    def notes(self) -> str:
        return (self.folder / "notes.md").read_text()

    @cached_property
    def article(self) -> str:
        return (self.folder / "article.md").read_text()

    @cached_property
    def readme(self) -> str:
        return (self.folder / "README.md").read_text()

    def source(self, name: str) -> str:
        """The text of `<package>/<name>.py`."""
        package = self.folder.name.split("_", 1)[1]
        return (self.folder / package / f"{name}.py").read_text()

    def _require(self, document: str, text: str, strings: Sequence[str]) -> None:
        flat = _flat(text)
        for s in strings:
            assert _flat(s) in flat, f"{document} should contain {s!r} (recomputed from the code)"

    def in_notes(self, *strings: str) -> None:
        self._require("notes.md", self.notes, strings)

    def in_article(self, *strings: str) -> None:
        self._require("article.md", self.article, strings)

    def in_readme(self, *strings: str) -> None:
        self._require("README.md", self.readme, strings)

    def section(self, heading: str) -> str:
        """The notes' text under the `## ` heading that starts with `heading`, up to the next one."""
        parts = re.split(rf"^## {re.escape(heading)}[^\n]*\n", self.notes, maxsplit=1, flags=re.M)
        assert len(parts) == 2, f"notes.md has no section '## {heading}'"
        return re.split(r"^## ", parts[1], maxsplit=1, flags=re.M)[0]

    def check_maths_to_code(self, heading: str, modules: Sequence[ModuleType], min_rows: int = 20) -> int:
        """Every row `| equation | `function` | `code` ... |` of the table under `heading` names a function
        that exists in `modules` and quotes code found in that function's source. Returns the row count."""
        rows = [line for line in self.section(heading).splitlines()
                if line.startswith("| ") and not re.match(r"\|\s*(equation|maths)\b", line, flags=re.I)
                and not set(line) <= set("|-: ")]
        assert len(rows) >= min_rows, f"the maths-to-code table has {len(rows)} rows, expected >= {min_rows}"
        for row in rows:
            cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
            owner = re.fullmatch(r"`([\w.]+)`", cells[1])
            assert owner, f"second column should name a function in backticks: {row}"
            name = owner.group(1)
            obj = next((m for m in modules if hasattr(m, name.split(".")[0])), None)
            assert obj is not None, f"{name} is in none of {[m.__name__ for m in modules]}"
            for part in name.split("."):
                obj = getattr(obj, part)  # raises if the function was renamed
            code = _flat(inspect.getsource(obj.fget if isinstance(obj, property) else obj))
            snippets = re.findall(r"`([^`]+)`", " | ".join(cells[2:]))
            assert snippets, f"no code quoted in: {row}"
            for snippet in snippets:
                assert _flat(snippet).strip() in code, f"{snippet!r} is not in {name}"
        return len(rows)

    def check_article_excerpts(self, modules: Sequence[ModuleType], min_blocks: int = 3) -> None:
        """Every ```python block of the article is a contiguous run of lines of one of `modules`
        (indentation aside), so an excerpt can't drift from the code it shows."""
        blocks = re.findall(r"```python\n(.*?)```", self.article, flags=re.S)
        assert len(blocks) >= min_blocks, f"article.md has {len(blocks)} python excerpts, expected >= {min_blocks}"
        sources = [[line.strip() for line in inspect.getsource(m).splitlines()] for m in modules]
        for block in blocks:
            lines = [line.strip() for line in block.strip("\n").splitlines()]
            found = any(lines == src[i:i + len(lines)] for src in sources for i in range(len(src) - len(lines) + 1))
            assert found, f"article.md excerpt is not a contiguous piece of the package's code:\n{block}"


def run_default_config(main: Callable[[list[str]], Any], paper: str, root: Path, *extra: str) -> tuple[dict, Path]:
    """Train the paper's default config (a claim test) into `root`; return results.json and the run folder."""
    main(["fit", "--run.root", str(root), "--run.name", "claim", "--trainer.enable_progress_bar", "false", *extra])
    run = Path(root) / paper / "claim"
    return json.loads((run / "results.json").read_text()), run


def n_params(module) -> int:
    """Parameters of a torch module, the number the notes quote."""
    return sum(p.numel() for p in module.parameters())
