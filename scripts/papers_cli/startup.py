"""`papers bench startup [NN] [--steps N]`: where a run's time goes before and around training.

Measures, each in a fresh Python process on this machine:
- importing torch, and importing lightning (which imports torchmetrics, and through it whatever
  optional libraries are installed: torchvision, scipy, transformers);
- a wrong setting: the whole command until its one-line error;
- a run of 1 step and a run of N steps of the paper's default config, with the progress bar and
  without it; their difference over N-1 steps is the cost of one step, the rest is start-up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from papers_cli.repo import find_paper


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def run_startup(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="papers bench startup", description=__doc__.splitlines()[0])
    parser.add_argument("paper", nargs="?", default="01", help="paper number (default 01)")
    parser.add_argument("--steps", type=int, default=41, help="steps of the longer run (default 41)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the training runs (default 1)")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"--steps must be >= 2, got {args.steps}")
    from papers_cli.__main__ import PapersError

    try:
        paper = find_paper(args.paper)
    except PapersError as e:
        parser.error(str(e))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    py = [sys.executable]
    rows = [("import torch", timed([*py, "-c", "import torch"], env)),
            ("import lightning", timed([*py, "-c", "import lightning"], env)),
            ("wrong setting -> one-line error",
             timed([*py, "-m", f"{paper.slug}.train", "fit", "--model.no_such_setting", "1"], env))]
    with tempfile.TemporaryDirectory() as root:
        def fit(steps: int, bar: bool) -> float:
            return timed([*py, "-m", f"{paper.slug}.train", "fit", "--run.root", root, "--trainer.max_steps",
                          str(steps), "--trainer.enable_progress_bar", str(bar).lower(), "--run.logger", "csv"], env)

        for bar in (True, False):
            one, many = fit(1, bar), fit(args.steps, bar)
            per_step = (many - one) / (args.steps - 1)
            label = "progress bar" if bar else "no progress bar"
            rows += [(f"run of 1 step ({label}), end to end", one),
                     (f"one more training step ({label})", per_step)]
    print(f"papers bench startup {paper.name}: {args.threads} thread(s), {args.steps} steps")
    print("| what | seconds |\n|---|---|")
    for what, seconds in rows:
        print(f"| {what} | {seconds:.3f} |")
    return 0
