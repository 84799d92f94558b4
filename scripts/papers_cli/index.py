"""`papers index`: regenerate the README's paper table from each paper's `[tool.paper]` metadata.

The table sits between two markers in README.md; everything else in the README is hand-written.
Status is honest: `planned` (no folder yet), `in progress` (folder exists, contract not met yet),
`done` (the paper's own metadata says so, and `papers check` holds it to the contract).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from papers_cli.catalog import GROUPS, PAPERS
from papers_cli.repo import papers, repo_root

START, END = "<!-- papers:index:start -->", "<!-- papers:index:end -->"
STATUSES = ("planned", "in progress", "done")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date instead of writing")


def render_table(root: Path) -> str:
    present = {p.name: p for p in papers(root)}
    known = {folder for folder, *_ in PAPERS}
    extra = [p for name, p in present.items() if name not in known]  # paper 21 and later
    rows_by_group: dict[str, list[str]] = {g: [] for g in GROUPS}
    for folder, title, authors, year, group, shows in PAPERS:
        paper = present.get(folder)
        meta = paper.meta if paper else {}
        rows_by_group[GROUPS[group]].append(_row(folder, meta, title, authors, year, shows, paper is not None))
    for paper in extra:
        m = paper.meta
        group = m.get("group", GROUPS[-1])
        rows_by_group.setdefault(group, []).append(
            _row(paper.name, m, m.get("title", paper.name), m.get("authors", ""), m.get("year", ""), "", True)
        )
    lines = []
    for group, rows in rows_by_group.items():
        if not rows:
            continue
        header = ["| # | Paper | What the default run shows | Status |", "|---|---|---|---|"]
        lines += [f"**{group}**", "", *header, *rows, ""]
    return "\n".join(lines).rstrip() + "\n"


def _row(folder: str, meta: dict, title: str, authors: str, year, shows: str, exists: bool) -> str:
    number = folder.split("_", 1)[0]
    title, authors, year = meta.get("title", title), meta.get("authors", authors), meta.get("year", year)
    status = meta.get("status", "in progress") if exists else "planned"
    name = f"[{title}](papers/{folder}/README.md)" if exists else title
    shows = meta.get("shows", shows)
    return f"| {number} | {name} ({authors}, {year}) | {shows} | {status} |"


def updated_readme(root: Path) -> tuple[str, str]:
    """(current README text, README text with a fresh table)."""
    from papers_cli.__main__ import PapersError

    readme = root / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise PapersError(f"README.md has no {START} ... {END} markers around the paper table")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return text, f"{head}{START}\n{render_table(root)}{END}{tail}"


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    current, fresh = updated_readme(root)
    if args.check:
        if current != fresh:
            print("README.md paper table is out of date: run `uv run papers index`")
            return 1
        print("README.md paper table is up to date")
        return 0
    (root / "README.md").write_text(fresh)
    print("README.md paper table regenerated")
    return 0
