"""Where things are in the repo, and each paper's metadata (the `[tool.paper]` table)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path


def repo_root(start: Path | None = None) -> Path:
    """The workspace root: the nearest folder above `start` holding both pyproject.toml and papers/."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "pyproject.toml").is_file() and (folder / "papers").is_dir():
            return folder
    # Fall back to the checkout this module lives in (an editable install).
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Paper:
    folder: Path
    number: int
    slug: str  # folder name without the NN_ prefix = import name
    meta: dict

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def package(self) -> Path:
        return self.folder / self.slug

    @property
    def dist_name(self) -> str:
        return tomllib.loads((self.folder / "pyproject.toml").read_text())["project"]["name"]


def papers(root: Path | None = None) -> list[Paper]:
    """Every folder papers/NN_name, in number order."""
    root = root or repo_root()
    found = []
    for folder in sorted((root / "papers").iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        number, _, slug = folder.name.partition("_")
        meta = {}
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            meta = tomllib.loads(pyproject.read_text()).get("tool", {}).get("paper", {})
        found.append(Paper(folder, int(number) if number.isdigit() else -1, slug, meta))
    return found


def find_paper(key: str, root: Path | None = None) -> Paper:
    """A paper by number ("1", "01") or folder name."""
    from papers_cli.__main__ import PapersError

    for paper in papers(root):
        if key in (paper.name, paper.slug) or (key.isdigit() and int(key) == paper.number):
            return paper
    raise PapersError(f"no paper matches {key!r} under papers/ (try a number like 01 or a folder name)")
