"""Run folders and results files.

Every run lives in its own folder `runs/<paper>/<name>/` holding `config.yaml`, `metrics.csv`,
`checkpoints/` (with `last.ckpt`), `figures/` and `results.json`. Nothing is ever written into
the paper's source folder by a run.
"""

from __future__ import annotations

import json
import math
import platform
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import torch


def new_run_dir(root: str | Path, paper: str, name: str | None = None) -> Path:
    """Create and return `root/paper/name`; the name defaults to a sortable timestamp."""
    base = Path(root) / paper
    if name is None:
        name = datetime.now().strftime("%Y%m%d-%H%M%S")
        # Two runs started in the same second get distinct folders.
        candidate, i = name, 1
        while (base / candidate).exists():
            candidate, i = f"{name}-{i}", i + 1
        name = candidate
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"run name {name!r} must be a plain folder name")
    run_dir = base / name
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def find_last_checkpoint(root: str | Path, paper: str, name: str | None = None) -> Path:
    """The `last.ckpt` of run `name`, or of the most recently modified run when name is None."""
    base = Path(root) / paper
    if name is not None:
        path = base / name / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise FileNotFoundError(f"--ckpt_path last: run {name!r} has no checkpoint at {path}")
        return path
    candidates = sorted(base.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError(f"--ckpt_path last: no earlier run under {base} has checkpoints/last.ckpt")
    return candidates[-1]


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them visible instead of crashing
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_results(run_dir: str | Path, metrics: dict[str, Any], **extra: Any) -> Path:
    """Write `results.json`: the claim metrics plus enough context to trust them later."""
    payload = {
        "metrics": _jsonable(metrics),
        **_jsonable(extra),
        "written_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
            "cpu_count": __import__("os").cpu_count(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
    }
    path = Path(run_dir) / "results.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def read_results(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results.json in {run_dir}")
    return json.loads(path.read_text())


class Stopwatch:
    """`with Stopwatch() as t: ...; t.seconds` — wall time for results files."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
