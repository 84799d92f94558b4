"""Train the Vision Transformer (and its data-efficiency sweep) from the command line.

    uv run papers train 16                                            # default CPU config, digits
    uv run python -m vision_transformer.train fit --config configs/gpu.yaml --data.download true
    uv run python -m vision_transformer.train fit --model.n_layers 2  # override one setting
    uv run python -m vision_transformer.train fit --ckpt_path last     # resume the latest run
    uv run python -m vision_transformer.train --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from vision_transformer.data import ImageData
from vision_transformer.lightning import ViTClassifier

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(ViTClassifier, ImageData, paper="16_vision_transformer", default_config=CONFIGS / "default.yaml",
                   args=args)


if __name__ == "__main__":
    main()
