"""`papers bench 01 [args...]`: run a paper's benchmark module (`python -m <package>.bench`).

`papers bench startup [01]` measures start-up instead: imports, the time to a one-line error,
and a run's fixed cost against its cost per step (papers_cli/startup.py).

Benchmarks measure speed (tokens/s, model FLOPs utilisation) on whatever device is present;
they are never timed tests. Each paper that has one documents its numbers in its README.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

from papers_cli.repo import find_paper


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paper", help="paper number (01) or folder name")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the paper's bench module")


def run(args: argparse.Namespace) -> int:
    from papers_cli.__main__ import PapersError

    if args.paper == "startup":
        from papers_cli.startup import run_startup

        return run_startup(args.args)
    paper = find_paper(args.paper)
    if importlib.util.find_spec(f"{paper.slug}.bench") is None:
        raise PapersError(f"{paper.name} has no benchmark ({paper.slug}/bench.py)")
    return subprocess.call([sys.executable, "-m", f"{paper.slug}.bench", *args.args])
