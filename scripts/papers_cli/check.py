"""`papers check`: hold the repo to its contract. Prints every problem, one per line; exit 1 if any.

1. every paper folder is `NN_name`, has the contract's files and a `[tool.paper]` table;
2. every paper is a workspace member the root installs (dev group + sources);
3. no paper imports another paper, in code or in its dependencies;
4. the README's paper table matches the folders (`papers index` regenerates it);
5. every relative link and image in every Markdown file resolves, and so does its `#anchor` (in-page, or into
   another Markdown file): a heading with that GitHub slug, or an HTML `id`/`name`, must exist there;
6. papers/glossary.md and papers/maths.md exist, and every paper's notes.md links the glossary.
"""

from __future__ import annotations

import argparse
import ast
import html
import os
import re
import tomllib
import unicodedata
from pathlib import Path
from urllib.parse import unquote

from papers_cli.index import STATUSES, updated_readme
from papers_cli.repo import Paper, papers, repo_root

REQUIRED_FILES = ["README.md", "notes.md", "article.md", "pyproject.toml", "configs/default.yaml",
                  "configs/gpu.yaml", "{slug}/__init__.py", "{slug}/model.py", "{slug}/data.py",
                  "{slug}/train.py"]
REQUIRED_META = ["number", "title", "authors", "year", "group", "status", "shows"]
SKIP_DIRS = {".venv", ".git", "runs", "node_modules", "export", "__pycache__", ".pytest_cache", "build", "dist"}
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
GLOSSARY = "papers/glossary.md"
MATHS = "papers/maths.md"
GLOSSARY_LINE = "New to a term? See the [glossary](../glossary.md) and the [maths quick reference](../maths.md)."
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ID = re.compile(r"<[a-zA-Z][^>]*?\s(?:id|name)\s*=\s*[\"']([^\"']+)[\"']")


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


# The scaffold's Markdown is written for papers/NN_name/, where its relative links resolve once copied.
TEMPLATE = Path("scripts/papers_cli/template")


def markdown_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.md")
                  if not (SKIP_DIRS & set(p.relative_to(root).parts)) and TEMPLATE not in p.relative_to(root).parents)


def without_fences(text: str) -> str:
    """The text with every line of its fenced code blocks (``` or ~~~) blanked."""
    lines, fence = [], None
    for line in text.splitlines():
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
            lines.append("")
        elif fence is not None:
            closing = FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) \
                    and not line.strip().strip(fence[0]):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines)


def without_code(text: str) -> str:
    """The text without fenced code blocks and inline code spans: links there are examples."""
    return re.sub(r"`[^`\n]*`", "", without_fences(text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lowercased, punctuation dropped, each space made a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # links and images keep their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = re.sub(r"(?<![\w\\])(_{1,2})(?=\S)(.+?)(?<=\S)\1(?!\w)", r"\2", text)  # _emphasis_, not snake_case
    text = html.unescape(text.replace("`", "")).lower()  # a space left by a removed tag still counts
    kept = "".join(c for c in text if c in "-_ " or c.isalnum() or unicodedata.category(c)[0] == "M")
    return kept.replace(" ", "-")


def heading_anchors(text: str) -> set[str]:
    """Every anchor GitHub makes in a Markdown text: heading slugs (a repeated slug gets -1, -2, ...) and
    HTML id/name attributes."""
    counts: dict[str, int] = {}
    anchors: set[str] = set()
    lines = without_fences(text).splitlines()
    for i, line in enumerate(lines):
        atx = ATX.match(line)
        if atx:
            heading = atx.group(2) or ""
        elif (SETEXT.match(line) and i > 0 and lines[i - 1].strip() and not ATX.match(lines[i - 1])
              and not re.match(r"^\s*([-*+]|\d+[.)]|>|\|)", lines[i - 1])
              and not (line.strip().startswith("-") and set(lines[i - 1].strip()) <= set("|-: "))):
            heading = lines[i - 1].strip()
        else:
            continue
        base = slug = github_slug(heading)
        while slug in counts:
            counts[base] += 1
            slug = f"{base}-{counts[base]}"
        counts[slug] = 0
        anchors.add(slug)
    anchors |= set(HTML_ID.findall("\n".join(lines)))
    return anchors


def check_links(root: Path) -> list[str]:
    problems = []
    anchors: dict[Path, set[str]] = {}
    for md in markdown_files(root):
        text = without_code(md.read_text())  # links inside code are examples
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http(s):, mailto:
            path, _, fragment = target.partition("#")
            dest = md.parent / path if path else md
            if path and not dest.exists():
                problems.append(f"{md.relative_to(root)}: broken link {target}")
                continue
            if fragment and dest.is_file() and dest.suffix == ".md":
                if dest not in anchors:
                    anchors[dest] = heading_anchors(dest.read_text())
                if unquote(fragment) not in anchors[dest]:
                    where = os.path.relpath(dest.resolve(), root.resolve())
                    problems.append(f"{md.relative_to(root)}: broken anchor {target} "
                                    f"(no heading with that slug in {where})")
    return problems


def links_to(md: Path, target: Path) -> bool:
    """Whether the Markdown file `md` has a relative link to the file `target`."""
    for link in LINK.findall(without_code(md.read_text())):
        path = link.partition("#")[0]
        if path and not re.match(r"^[a-z][a-z0-9+.-]*:", path) and (md.parent / path).resolve() == target.resolve():
            return True
    return False


def check_glossary(root: Path, all_papers: list[Paper]) -> list[str]:
    problems = [f"{name}: missing (the repo-wide glossary and maths quick reference live in papers/)"
                for name in (GLOSSARY, MATHS) if not (root / name).is_file()]
    for paper in all_papers:
        notes = paper.folder / "notes.md"
        if notes.is_file() and not links_to(notes, root / GLOSSARY):
            problems.append(f"{notes.relative_to(root)}: does not link ../glossary.md; put this line under the title: "
                            f"{GLOSSARY_LINE}")
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
    found += check_glossary(root, all_papers)
    return found


def run(args: argparse.Namespace) -> int:
    root = (args.root or repo_root()).resolve()
    found = problems(root)
    for line in found:
        print(line)
    n = len(papers(root))
    print(f"papers check: {n} paper(s), {len(found)} problem(s)" if found else f"papers check: {n} paper(s), all good")
    return 1 if found else 0
