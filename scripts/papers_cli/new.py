"""`papers new 21 my_paper --title "..."`: scaffold papers/21_my_paper from the template.

The skeleton is a small working paper (a model, data, a CLI, a claim test) that passes
`papers check` and its own tests as generated; replace each part with the paper's own. The new
paper is added to the root pyproject (dev group + sources) so `uv run` installs it, the README
table is regenerated, and `uv lock` is run (skip with --no-lock).

The name is checked before anything is written: it becomes an import name and a distribution name,
so it may not shadow a keyword, a standard-library module, an installed package or a repo package,
nor clash with a distribution in uv.lock. If a later step fails (`uv lock` included), everything is
rolled back: the folder is removed and pyproject.toml, README.md and uv.lock are restored byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import keyword
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
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


def _normalized(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()  # PEP 503


def check_name(root: Path, name: str) -> None:
    """Raise PapersError (one line) if `name` cannot be a new paper's import and distribution name."""
    from papers_cli.__main__ import PapersError

    def refuse(what: str) -> PapersError:
        return PapersError(f"name {name!r} would shadow {what}; choose another")

    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise PapersError(f"name {name!r} must be lowercase letters, digits and underscores, starting with a letter")
    if keyword.iskeyword(name):
        raise PapersError(f"name {name!r} is a Python keyword and cannot be imported; choose another")
    if name in sys.stdlib_module_names:
        raise refuse(f"the standard-library module {name!r}")
    for paper in papers(root):
        if paper.slug == name:
            raise PapersError(f"a paper named {name!r} exists already (papers/{paper.name}); choose another")
    for repo_package in (root / "shared" / "src" / name, root / "scripts" / name):
        if repo_package.is_dir():
            raise refuse(f"the repo's package {repo_package.relative_to(root)}")
    providers = importlib.metadata.packages_distributions().get(name)
    if providers:
        raise refuse(f"the installed package {name!r} (from {', '.join(sorted(set(providers)))})")
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.origin not in (None, "namespace"):  # a plain folder on sys.path is no package
        raise refuse(f"the installed module {name!r} ({spec.origin})")
    dist = _normalized(name)
    lock = root / "uv.lock"
    locked = {_normalized(p["name"]) for p in tomllib.loads(lock.read_text()).get("package", [])} \
        if lock.is_file() else set()
    installed = {_normalized(d.metadata["Name"] or "") for d in importlib.metadata.distributions()}
    if dist in locked | installed:
        raise PapersError(f"name {name!r} gives the distribution {dist!r}, which the lock file or environment "
                          "already has; choose another")


@contextlib.contextmanager
def rollback_on_error(root: Path, folder: Path) -> Iterator[None]:
    """On any exception, remove `folder` (if this created it) and restore the files `papers new` edits."""
    edited = [root / "pyproject.toml", root / "README.md", root / "uv.lock"]
    before = {path: path.read_bytes() if path.exists() else None for path in edited}
    folder_existed = folder.exists()
    try:
        yield
    except BaseException:
        if not folder_existed and folder.exists():
            shutil.rmtree(folder)
        for path, data in before.items():
            if data is None:
                path.unlink(missing_ok=True)
            elif not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
        raise


def scaffold(root: Path, number: int, name: str, title: str, authors: str, year: int, group: str) -> Path:
    from papers_cli.__main__ import PapersError

    if not 1 <= number <= 99:
        raise PapersError(f"number must be between 1 and 99, got {number}")
    check_name(root, name)
    taken = {p.number: p.name for p in papers(root)}
    if number in taken:
        raise PapersError(f"number {number:02d} is taken by papers/{taken[number]}")
    if '"' in title or '"' in authors:
        raise PapersError("title and authors may not contain double quotes")
    folder = root / "papers" / f"{number:02d}_{name}"
    with rollback_on_error(root, folder):
        _write(root, folder, number, name, title, authors, year, group)
    return folder


def _sorted_first_party_imports(text: str, name: str) -> str:
    """The template imports `shared` before the paper's package; ruff's isort wants the two sorted by module name,
    which depends on the paper's name (`dalle` comes before `shared`, `vision_transformer` after)."""
    lines = text.split("\n")
    for i in range(len(lines) - 1):
        first, second = lines[i], lines[i + 1]
        if first.startswith("from shared") and second.startswith(f"from {name}") and name < "shared":
            lines[i], lines[i + 1] = second, first
    return "\n".join(lines)


def _write(root: Path, folder: Path, number: int, name: str, title: str, authors: str, year: int,
           group: str) -> None:
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
            if src.suffix == ".py":
                text = _sorted_first_party_imports(text, name)
            dest.write_text(text)
        else:
            shutil.copyfile(src, dest)
    _add_to_root_pyproject(root, values["dist"])
    _, fresh = updated_readme(root)
    (root / "README.md").write_text(fresh)


def lock(root: Path) -> None:
    from papers_cli.__main__ import PapersError

    try:
        subprocess.run(["uv", "lock"], cwd=root, check=True)
    except FileNotFoundError:
        raise PapersError("`uv lock` failed: no `uv` on PATH (pass --no-lock to skip it)") from None
    except subprocess.CalledProcessError as e:
        raise PapersError(f"`uv lock` failed with exit status {e.returncode} (its message is above)") from None


def run(args: argparse.Namespace) -> int:
    from papers_cli.__main__ import PapersError

    root = (args.root or repo_root()).resolve()
    folder = root / "papers" / f"{args.number:02d}_{args.name}"
    undone = f"rolled back: no {folder.relative_to(root)}, pyproject.toml, README.md and uv.lock as they were"
    try:
        with rollback_on_error(root, folder):
            folder = scaffold(root, args.number, args.name, args.title, args.authors, args.year, args.group)
            if not args.no_lock:
                try:
                    lock(root)
                except PapersError as e:
                    raise PapersError(f"{e}; {undone}") from None
    except OSError as e:
        raise PapersError(f"could not write the new paper ({e}); {undone}") from None
    print(f"created {folder.relative_to(root)}")
    print("next: `uv sync`, then `uv run pytest papers/" + folder.name + "` and `uv run papers check`;"
          " see CONTRIBUTING.md for what a finished paper needs")
    return 0
