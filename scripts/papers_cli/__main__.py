"""`uv run papers <verb>`: the one command line for the repo's chores.

Verbs: new, check, index, export, train, bench. Each lives in its own module with a
`add_arguments(parser)` and a `run(args) -> int` function, so adding a verb is one file.
"""

from __future__ import annotations

import argparse
import importlib
import sys

VERBS = {
    "new": "scaffold papers/NN_name from the template",
    "check": "check the repo contract (files, imports, index, links)",
    "index": "regenerate the README's paper table from each paper's metadata",
    "export": "turn a paper's article.md into Medium-ready HTML",
    "train": "train a paper: `papers train 01 [lightning cli args...]`",
    "bench": "benchmark a paper's model (tokens/s, MFU)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="papers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, help_text in VERBS.items():
        module = importlib.import_module(f"papers_cli.{verb}")
        p = sub.add_parser(verb, help=help_text, description=help_text)
        module.add_arguments(p)
    argv = sys.argv[1:] if argv is None else argv
    # `train` forwards everything after the paper number untouched to the paper's own CLI.
    if argv[:1] == ["train"]:
        return importlib.import_module("papers_cli.train").forward(argv[1:])
    args = parser.parse_args(argv)
    try:
        return importlib.import_module(f"papers_cli.{args.verb}").run(args) or 0
    except PapersError as e:
        print(f"papers {args.verb}: error: {e}", file=sys.stderr)
        return 2


class PapersError(Exception):
    """A user-facing problem: printed as one line, exit status 2."""


if __name__ == "__main__":
    sys.exit(main())
