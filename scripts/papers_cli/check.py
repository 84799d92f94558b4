"""`papers check`: hold the repo to its contract. Prints every problem, one per line; exit 1 if any.

1. every paper folder is `NN_name`, has the contract's files and a `[tool.paper]` table;
2. every paper is a workspace member the root installs (dev group + sources);
3. no paper imports another paper, in code or in its dependencies;
4. the README's paper table matches the folders (`papers index` regenerates it);
5. every relative link and image in every Markdown file resolves.
"""

from __future__ import annotations

import argparse
import ast
import re
import tomllib
from pathlib import Path

from papers_cli.index import STATUSES, updated_readme
from papers_cli.repo import Paper, papers, repo_root

REQUIRED_FILES = ["README.md", "notes.md", "article.md", "pyproject.toml", "configs/default.yaml",
                  "configs/gpu.yaml", "{slug}/__init__.py", "{slug}/model.py", "{slug}/data.py",
                  "{slug}/train.py"]
REQUIRED_META = ["number", "title", "authors", "year", "group", "status", "shows"]
SKIP_DIRS = {".venv", ".git", "runs", "node_modules", "export", "__pycache__", ".pytest_cache", "build", "dist"}
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None, help="repo root (default: the current checkout)")


def check_paper_files(paper: Paper) -> list[str]:
    problems = []
    if not re.fullmatch(r"\d\d_[a-z0-9_]+", paper.name):
        problems.append(f"{paper.name}: folder name must be NN_lowercase_name")
    for pattern in REQUIRED_FILES:
        if not (paper.folder / pattern.format(slug=paper.slug)).is_file():
            problems.append(f"{paper.name}: missing {pattern.format(slug=paper.slug)}")
    tests = list((paper.folder / "tests").glob("test_*.py"))
    if not tests:
        problems.append(f"{paper.name}: no tests/test_*.py")
    elif not any("pytest.mark.claim" in t.read_text() for t in tests):
        problems.append(f"{paper.name}: no test marked @pytest.mark.claim")
    for key in REQUIRED_META:
        if key not in paper.meta:
            problems.append(f"{paper.name}: pyproject.toml [tool.paper] lacks {key!r}")
    if paper.meta.get("number") not in (None, paper.number):
        problems.append(f"{paper.name}: [tool.paper] number {paper.meta['number']} does not match the folder")
    if paper.meta.get("status", "in progress") not in STATUSES:
        problems.append(f"{paper.name}: status must be one of {', '.join(STATUSES)}")
    return problems


def check_workspace(root: Path, all_papers: list[Paper]) -> list[str]:
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    dev = {re.split(r"[<>=\[ ;]", d, maxsplit=1)[0] for d in pyproject.get("dependency-groups", {}).get("dev", [])}
    sources = pyproject.get("tool", {}).get("uv", {}).get("sources", {})
    problems = []
    for paper in all_papers:
        if not (paper.folder / "pyproject.toml").is_file():
            continue
        name = paper.dist_name
        if name not in dev or not sources.get(name, {}).get("workspace"):
            problems.append(f"{paper.name}: {name!r} is not in the root dev group and [tool.uv.sources]; "
                            "`uv run papers new` adds it, or add it by hand and run `uv lock`")
    return problems


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def check_isolation(all_papers: list[Paper]) -> list[str]:
    problems = []
    slugs = {p.slug: p for p in all_papers}
    for paper in all_papers:
        others = {s for s in slugs if s != paper.slug}
        for path in sorted(paper.folder.rglob("*.py")):
            if SKIP_DIRS & set(path.parts):
                continue
            for module in sorted(imported_modules(path) & others):
                where = path.relative_to(paper.folder.parent.parent)
                problems.append(f"{where}: imports paper {slugs[module].name}; papers depend only on shared/")
        if (paper.folder / "pyproject.toml").is_file():
            deps = tomllib.loads((paper.folder / "pyproject.toml").read_text())["project"].get("dependencies", [])
            other_dists = {p.dist_name for p in all_papers
                           if p is not paper and (p.folder / "pyproject.toml").is_file()}
            for dep in deps:
                if re.split(r"[<>=\[ ;]", dep, maxsplit=1)[0] in other_dists:
                    problems.append(f"{paper.name}: depends on another paper ({dep})")
    return problems


def markdown_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.md") if not (SKIP_DIRS & set(p.relative_to(root).parts)))


def check_links(root: Path) -> list[str]:
    problems = []
    for md in markdown_files(root):
        text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)  # links inside code blocks are examples
        text = re.sub(r"`[^`\n]*`", "", text)
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # http(s):, mailto:, in-page anchors
            path = target.split("#", 1)[0]
            if path and not (md.parent / path).exists():
                problems.append(f"{md.relative_to(root)}: broken link {target}")
    return problems


def check_index(root: Path) -> list[str]:
    current, fresh = updated_readme(root)
    return [] if current == fresh else ["README.md: the paper table is out of date; run `uv run papers index`"]


def problems(root: Path) -> list[str]:
    all_papers = papers(root)
    found = []
    for paper in all_papers:
        found += check_paper_files(paper)
    found += check_workspace(root, all_papers)
    found += check_isolation(all_papers)
    found += check_index(root)
    found += check_links(root)
    return found


def run(args: argparse.Namespace) -> int:
    root = (args.root or repo_root()).resolve()
    found = problems(root)
    for line in found:
        print(line)
    n = len(papers(root))
    print(f"papers check: {n} paper(s), {len(found)} problem(s)" if found else f"papers check: {n} paper(s), all good")
    return 1 if found else 0
