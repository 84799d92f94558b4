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
    argv = sys.argv[1:] if argv is None else argv
    top = argparse.ArgumentParser(
        prog="papers", description=__doc__.splitlines()[0],
        epilog="verbs:\n" + "\n".join(f"  {v:<7} {h}" for v, h in VERBS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("verb", choices=VERBS, metavar="VERB")
    top.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parsed = top.parse_args(argv[:1])
    # Import only the chosen verb: `papers check` should not pay for matplotlib or torch.
    module = importlib.import_module(f"papers_cli.{parsed.verb}")
    rest = argv[1:]
    if parsed.verb == "train":  # everything after the paper goes untouched to the paper's own CLI
        return module.forward(rest)
    parser = argparse.ArgumentParser(prog=f"papers {parsed.verb}", description=VERBS[parsed.verb])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return module.run(args) or 0
    except PapersError as e:
        print(f"papers {parsed.verb}: error: {e}", file=sys.stderr)
        return 2


class PapersError(Exception):
    """A user-facing problem: printed as one line, exit status 2."""


if __name__ == "__main__":
    sys.exit(main())
