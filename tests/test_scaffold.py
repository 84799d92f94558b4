"""`papers new` produces a paper that passes the contract and its own tests, in a temp copy of the repo."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from papers_cli import check, new
from papers_cli.__main__ import main
from papers_cli.new import scaffold

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".venv", ".git", "runs", "__pycache__", ".pytest_cache", ".ruff_cache", "export")


def test_new_paper_passes_check_and_its_own_tests(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORE)
    folder = scaffold(repo, 21, "toy_paper", "A Toy Paper", "Doe et al.", 2026, "Vision and generation")
    assert folder == repo / "papers" / "21_toy_paper"

    root_pyproject = (repo / "pyproject.toml").read_text()
    assert '"toy-paper",' in root_pyproject and "toy-paper = { workspace = true }" in root_pyproject
    readme = (repo / "README.md").read_text()
    assert "[A Toy Paper](papers/21_toy_paper/README.md)" in readme and "in progress" in readme
    new_problems = [p for p in check.problems(repo) if "21_toy_paper" in p or "paper table" in p]
    assert new_problems == []

    # Lint-clean as generated: CI runs ruff on the whole repo.
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(folder)], cwd=repo,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-3000:]

    # Its own tests (smoke, model and claim), run with the new package importable.
    env = {**os.environ, "PYTHONPATH": str(folder)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "14 passed" in proc.stdout  # the template model, claim and the shared train-CLI suite


def _small_repo(tmp_path: Path) -> Path:
    """The files `papers new` reads and edits (root pyproject, README, uv.lock, one paper): fast to copy."""
    repo = tmp_path / "repo"
    (repo / "papers").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "uv.lock"):
        shutil.copy(ROOT / name, repo / name)
    first = ROOT / "papers" / "01_attention_is_all_you_need"
    (repo / "papers" / first.name).mkdir()
    shutil.copy(first / "pyproject.toml", repo / "papers" / first.name / "pyproject.toml")
    return repo


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under root."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("name, problem", [
    ("torch", "would shadow the installed package 'torch'"),
    ("numpy", "would shadow the installed package 'numpy'"),
    ("lightning", "would shadow the installed package 'lightning'"),
    ("shared", "would shadow the installed module 'shared'"),
    ("papers_cli", "would shadow the installed module 'papers_cli'"),
    ("attention_is_all_you_need", "a paper named 'attention_is_all_you_need' exists already"),
    ("bert", "would shadow the installed module 'bert'"),  # another paper's package, not in this small tree
    ("papers_shared", "gives the distribution 'papers-shared'"),
    ("json", "would shadow the standard-library module 'json'"),
    ("class", "is a Python keyword"),
])
def test_new_refuses_a_shadowing_name_before_writing_anything(tmp_path, capsys, name, problem):
    repo = _small_repo(tmp_path)
    before = _snapshot(repo)
    assert main(["new", "21", name, "--title", "T", "--root", str(repo)]) == 2
    err = capsys.readouterr().err.strip()
    assert problem in err and "\n" not in err, err
    assert err.startswith(f"papers new: error: name {name!r}") or "exists already" in err
    assert _snapshot(repo) == before


@pytest.mark.parametrize("failing_step", ["uv lock", "README"])
def test_a_failed_new_is_rolled_back_byte_for_byte(tmp_path, monkeypatch, capsys, failing_step):
    """`uv lock` (or the README rewrite) fails after the folder and pyproject edit exist: all is undone."""
    repo = _small_repo(tmp_path)
    before = _snapshot(repo)
    lock_calls = []

    def failing_run(command, **kwargs):
        lock_calls.append(command)
        assert command == ["uv", "lock"] and Path(kwargs["cwd"]) == repo
        assert (repo / "papers" / "21_toy_paper").is_dir()  # the scaffold is there when the lock runs
        (repo / "uv.lock").write_text("half-written by a failing uv lock\n")
        raise subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(subprocess, "run", failing_run)
    if failing_step == "README":
        monkeypatch.setattr(new, "updated_readme", lambda root: (_ for _ in ()).throw(OSError("disk full")))
    assert main(["new", "21", "toy_paper", "--title", "A Toy Paper", "--root", str(repo)]) == 2
    err = capsys.readouterr().err.strip()
    assert "rolled back" in err and "\n" not in err, err
    assert lock_calls == ([["uv", "lock"]] if failing_step == "uv lock" else [])
    assert _snapshot(repo) == before
