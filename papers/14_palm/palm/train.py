"""Train from the command line.

    uv run papers train 14                                    # default CPU config: parallel vs serial
    uv run python -m palm.train fit --config papers/14_palm/configs/gpu.yaml
    uv run python -m palm.train fit --model.multi_query false  # standard multi-head attention instead
    uv run python -m palm.train fit --ckpt_path last           # resume the latest run
    uv run python -m palm.train fit --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from palm.data import ShakespeareData
from palm.lightning import PaLMLanguageModel

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(PaLMLanguageModel, ShakespeareData, paper="14_palm", default_config=CONFIGS / "default.yaml",
                   args=args)


if __name__ == "__main__":
    main()
