"""`papers train 01 [args...]`: run paper 01's train entry point (`python -m <package>.train`).

With no subcommand, `fit` is assumed, so `papers train 01` trains on the default config.
Everything after the paper is passed through untouched: `papers train 01 fit --model.d_model 128`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys

from papers_cli.repo import find_paper

SUBCOMMANDS = {"fit", "validate", "test", "predict"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paper", help="paper number (01) or folder name")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the paper's Lightning CLI")


def forward(argv: list[str]) -> int:
    from papers_cli.__main__ import PapersError

    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    try:
        paper = find_paper(argv[0])
    except PapersError as e:
        print(f"papers train: error: {e}", file=sys.stderr)
        return 2
    rest = argv[1:]
    if not rest or (rest[0] not in SUBCOMMANDS and rest[0] not in ("-h", "--help")):
        rest = ["fit", *rest]
    # The CLI records this in results.json as the command that produced the run.
    env = {**os.environ, "PAPERS_COMMAND": shlex.join(["papers", "train", argv[0], *rest])}
    return subprocess.call([sys.executable, "-m", f"{paper.slug}.train", *rest], env=env)


def run(args: argparse.Namespace) -> int:
    return forward([args.paper, *args.args])
