"""Train the sweep from the command line.

    uv run papers train 07                                   # default CPU config
    uv run python -m scaling_laws.train fit --config papers/07_scaling_laws/configs/gpu.yaml
    uv run python -m scaling_laws.train fit --model.lr 0.001   # override one setting
    uv run python -m scaling_laws.train fit --ckpt_path last   # resume the latest run
    uv run python -m scaling_laws.train --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from scaling_laws.data import Data
from scaling_laws.lightning import ScalingSweep

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(ScalingSweep, Data, paper="07_scaling_laws", default_config=CONFIGS / "default.yaml", args=args)


if __name__ == "__main__":
    main()
