"""`papers new` produces a paper that passes the contract and its own tests, in a temp copy of the repo."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from papers_cli import check
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
    assert "5 passed" in proc.stdout
