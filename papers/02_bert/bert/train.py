"""Pre-train BERT, then fine-tune from it and from scratch, from the command line.

    uv run python -m bert.train fit                                   # default CPU config
    uv run python -m bert.train fit --config configs/gpu.yaml         # BERT-base size on a GPU
    uv run python -m bert.train fit --data.text_file my_corpus.txt    # your own text instead of Shakespeare
    uv run python -m bert.train fit --ckpt_path last                  # resume the latest run
    uv run python -m bert.train fit --help
"""

from __future__ import annotations

from pathlib import Path

from shared.cli import run_cli

from bert.data import BertData
from bert.lightning import BertPretrainFinetune

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main(args: list[str] | None = None):
    return run_cli(BertPretrainFinetune, BertData, paper="02_bert", default_config=CONFIGS / "default.yaml",
                   args=args)


if __name__ == "__main__":
    main()
