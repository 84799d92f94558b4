"""`papers new 21 my_paper --title "..."`: scaffold papers/21_my_paper from the template.

The skeleton is a small working paper (a model, data, a CLI, a claim test) that passes
`papers check` and its own tests as generated; replace each part with the paper's own. The new
paper is added to the root pyproject (dev group + sources) so `uv run` installs it, the README
table is regenerated, and `uv lock` is run (skip with --no-lock).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

from papers_cli.catalog import GROUPS
from papers_cli.index import updated_readme
from papers_cli.repo import papers, repo_root

TEMPLATE = Path(__file__).resolve().parent / "template"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("number", type=int, help="the paper's number, e.g. 21")
    parser.add_argument("name", help="folder name after the number: lowercase letters, digits, underscores")
    parser.add_argument("--title", required=True, help="the paper's title")
    parser.add_argument("--authors", default="TODO et al.", help='e.g. "Vaswani et al."')
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--group", default=GROUPS[-1], choices=GROUPS, help="README group")
    parser.add_argument("--root", type=Path, default=None, help="repo root (default: this checkout)")
    parser.add_argument("--no-lock", action="store_true", help="do not run `uv lock` afterwards")


def _add_to_root_pyproject(root: Path, dist: str) -> None:
    path = root / "pyproject.toml"
    text = path.read_text()
    # Insert before the closing bracket of the dev group, and as the last line of [tool.uv.sources].
    dev = re.search(r"^dev = \[\n(?:.*\n)*?(?=^\]$)", text, flags=re.M)
    sources = re.search(r"^\[tool\.uv\.sources\]\n(?:.+\n)*", text, flags=re.M)
    if not dev or not sources:
        from papers_cli.__main__ import PapersError

        raise PapersError("root pyproject.toml has no `dev = [` group or [tool.uv.sources] table to extend")
    text = text[: sources.end()] + f"{dist} = {{ workspace = true }}\n" + text[sources.end():]
    text = text[: dev.end()] + f'    "{dist}",\n' + text[dev.end():]
    path.write_text(text)


def scaffold(root: Path, number: int, name: str, title: str, authors: str, year: int, group: str) -> Path:
    from papers_cli.__main__ import PapersError

    if not 1 <= number <= 99:
        raise PapersError(f"number must be between 1 and 99, got {number}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise PapersError(f"name {name!r} must be lowercase letters, digits and underscores, starting with a letter")
    taken = {p.number: p.name for p in papers(root)}
    if number in taken:
        raise PapersError(f"number {number:02d} is taken by papers/{taken[number]}")
    if any(p.slug == name for p in papers(root)):
        raise PapersError(f"a paper named {name!r} exists already")
    if '"' in title or '"' in authors:
        raise PapersError("title and authors may not contain double quotes")
    folder = root / "papers" / f"{number:02d}_{name}"
    values = {"number": str(number), "NN": f"{number:02d}", "folder": folder.name, "slug": name,
              "dist": name.replace("_", "-"), "title": title, "authors": authors, "year": str(year), "group": group}
    for src in sorted(TEMPLATE.rglob("*")):
        if "__pycache__" in src.parts or src.is_dir():
            continue
        dest = folder / str(src.relative_to(TEMPLATE)).replace("__package__", name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix in {".py", ".md", ".toml", ".yaml"}:
            text = src.read_text()
            for key, value in values.items():
                text = text.replace("{{" + key + "}}", value)
            dest.write_text(text)
        else:
            shutil.copyfile(src, dest)
    _add_to_root_pyproject(root, values["dist"])
    _, fresh = updated_readme(root)
    (root / "README.md").write_text(fresh)
    return folder


def run(args: argparse.Namespace) -> int:
    root = (args.root or repo_root()).resolve()
    folder = scaffold(root, args.number, args.name, args.title, args.authors, args.year, args.group)
    print(f"created {folder.relative_to(root)}")
    if not args.no_lock:
        subprocess.run(["uv", "lock"], cwd=root, check=True)
    print("next: `uv sync`, then `uv run pytest papers/" + folder.name + "` and `uv run papers check`;"
          " see CONTRIBUTING.md for what a finished paper needs")
    return 0
