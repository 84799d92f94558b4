"""The command line every paper's `train.py` is built on: a thin LightningCLI.

A paper's train entry point is three lines:

    def main(args=None):
        run_cli(MyLightningModule, MyDataModule, paper=__package__, default_config=CONFIGS / "default.yaml", args=args)

and then `python -m <paper>.train fit` trains on the default config, `--help` lists every
setting, `--config configs/gpu.yaml` switches config, `--model.d_model 128` overrides one value,
and `fit --ckpt_path last` resumes the most recent run. What this adds to LightningCLI:

- a run folder per run (`--run.root`, `--run.name`) holding config, metrics, checkpoints,
  figures and `results.json`;
- logger choice (`--run.logger csv|tensorboard|wandb|none`);
- default callbacks: `ModelCheckpoint(save_last=True)`, a stop on non-finite loss, RNG state in
  checkpoints so a resumed run ends where an uninterrupted one does;
- after `fit`, a `test` pass whose metrics are written to `results.json`;
- one-line errors for wrong settings, impossible hyperparameters, unreadable checkpoints, and a
  resume whose `--model.*` / `--data.*` settings differ from the checkpoint's (the old run's
  files are left untouched);
- `--run.threads`: how many CPU threads PyTorch uses (see `resolve_threads`).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Literal

import torch
from jsonargparse import ArgumentError
from lightning.pytorch.cli import LightningCLI

from shared.callbacks import EpochProgressBar, FiniteLossGuard, LastCheckpoint, NonFiniteLossError, RNGStateCheckpoint
from shared.figures import plot_training_curves
from shared.loggers import make_loggers
from shared.runs import find_last_checkpoint, new_run_dir, write_results

SUBCOMMANDS = ("fit", "validate", "test", "predict")
SETTINGS_ERRORS = (ArgumentError, ValueError, FileNotFoundError)


def resolve_threads(setting: int | None) -> int:
    """The number of CPU threads a run uses: `--run.threads N`, else $OMP_NUM_THREADS, else every CPU
    this process may run on.

    PyTorch's CPU kernels split each operation across threads. On an idle machine more threads are
    faster; on a busy one (a second job, parallel test workers) they wait on each other and a run
    can be several times *slower* than with one thread. So pass `--run.threads 1` (or export
    OMP_NUM_THREADS=1) whenever something else is running; the test suite does this per worker.
    """
    if setting is not None:
        if isinstance(setting, bool) or setting < 1:
            raise ValueError(f"run.threads must be a positive number of threads, got {setting}")
        return setting
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _plain(value: Any) -> Any:
    """Hyperparameters as plain data, so a tuple from code equals the list a checkpoint stored."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def settings_mismatch(saved: dict[str, Any], current: dict[str, Any], prefix: str) -> list[str]:
    """`prefix.key: checkpoint X, now Y` for every setting that differs (None now = taken from the data)."""
    saved, current = _plain(dict(saved)), _plain(dict(current))
    return [f"{prefix}.{key}: checkpoint {saved.get(key)!r}, now {value!r}"
            for key, value in current.items() if value is not None and key in saved and saved[key] != value]


class PaperCLI(LightningCLI):
    def __init__(self, model_class, datamodule_class, *, paper: str, default_config: str | Path | None = None,
                 args: list[str] | None = None, command: str | None = None, **kwargs: Any) -> None:
        self.paper = paper
        self.command = command or typed_command(f"{model_class.__module__.split('.')[0]}.train", args)
        self.created_run_dir: Path | None = None
        defaults = [str(default_config)] if default_config else []
        # allow_abbrev off: argparse would otherwise take `--model.n_expert 4` for `--model.n_experts 4`.
        parser_kwargs = {sub: {"default_config_files": defaults, "exit_on_error": False, "allow_abbrev": False}
                         for sub in SUBCOMMANDS}
        parser_kwargs.update(exit_on_error=False, allow_abbrev=False)
        try:
            super().__init__(
                model_class,
                datamodule_class,
                seed_everything_default=0,
                save_config_kwargs={"overwrite": True},  # a resume (checked first) rewrites config.yaml
                parser_kwargs=parser_kwargs,
                args=args,
                **kwargs,
            )
        except SETTINGS_ERRORS:
            # A rejected setting leaves nothing behind: drop the run folder this command created,
            # unless training got far enough to write a checkpoint.
            created = self.created_run_dir
            if created is not None and created.is_dir() and not any(created.glob("checkpoints/*.ckpt")):
                shutil.rmtree(created)
            raise

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--run.root", type=str, default="runs", help="folder holding every run's folder")
        parser.add_argument("--run.name", type=str | None, default=None,
                            help="this run's folder name (default: a timestamp); "
                                 "with --ckpt_path last, the run to resume")
        parser.add_argument("--run.logger", type=Literal["csv", "tensorboard", "wandb", "none"], default="csv",
                            help="where metrics go; wandb is offline unless you are logged in")
        parser.add_argument("--run.threads", type=int | None, default=None,
                            help="CPU threads for PyTorch (default: $OMP_NUM_THREADS, else every CPU); "
                                 "use 1 when another job shares the machine")

    def _parse_ckpt_path(self) -> None:
        """Resolve `--ckpt_path last`, then check the checkpoint before Lightning reads it.

        Lightning itself (LightningCLI._parse_ckpt_path) would load the checkpoint's model settings
        over the ones on the command line, silently, and a corrupt file would end in a long traceback.
        """
        subcommand = self.config.get("subcommand")
        if subcommand:
            cfg = self.config[subcommand]
            if cfg.get("ckpt_path") == "last":
                ckpt = find_last_checkpoint(cfg.run.root, self.paper, cfg.run.name)
                cfg.ckpt_path = str(ckpt)
                cfg.run.name = ckpt.parent.parent.name
            self.check_checkpoint(cfg)
        super()._parse_ckpt_path()

    def check_checkpoint(self, cfg) -> None:
        """Refuse, in one line and before anything is written, a checkpoint that can't be read or that
        was trained with other model/data settings than this command asks for."""
        if not cfg.get("ckpt_path"):
            return
        path = Path(cfg.ckpt_path)
        if not path.is_file():
            raise FileNotFoundError(f"--ckpt_path: no checkpoint file at {path}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as e:
            reason = (str(e).strip().splitlines() or [""])[0][:120]
            raise ValueError(f"--ckpt_path: cannot read checkpoint {path}; it may be truncated or corrupt "
                             f"({type(e).__name__}: {reason})") from None
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise ValueError(f"--ckpt_path: {path} is not a Lightning checkpoint (no state_dict)")
        mismatches = []
        for prefix, key in (("model", "hyper_parameters"), ("data", "datamodule_hyper_parameters")):
            asked = cfg.get(prefix)
            if asked is not None:
                asked = asked.as_dict() if hasattr(asked, "as_dict") else dict(asked)
                mismatches += settings_mismatch(checkpoint.get(key, {}), asked, prefix)
        if mismatches:
            raise ValueError(f"--ckpt_path: {path} was trained with other settings ({'; '.join(mismatches)}); "
                             "resume with the checkpoint's settings, or start a new run without --ckpt_path")

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand]
        run = cfg.run
        torch.set_num_threads(resolve_threads(run.threads))
        run_name = run.name
        existed = run_name is not None and (Path(run.root) / self.paper / run_name).is_dir()
        self.run_dir = new_run_dir(run.root, self.paper, run_name)
        self.created_run_dir = None if existed else self.run_dir
        cfg.trainer.default_root_dir = str(self.run_dir)

    def instantiate_trainer(self, **kwargs: Any):
        cfg = self.config_init[self.subcommand]
        if cfg.trainer.get("logger") in (None, True) and cfg.run.logger != "none":
            kwargs["logger"] = make_loggers(cfg.run.logger, self.run_dir, project=f"ai-papers-{self.paper}")
        callbacks = [
            LastCheckpoint(dirpath=self.run_dir / "checkpoints", save_last=True, save_top_k=0),
            FiniteLossGuard(),
            RNGStateCheckpoint(),
        ]
        if cfg.trainer.get("enable_progress_bar") is not False:
            callbacks.append(EpochProgressBar())
        self.trainer_defaults["callbacks"] = callbacks
        return super().instantiate_trainer(**kwargs)

    def before_fit(self) -> None:
        self._fit_started = time.perf_counter()
        if torch.cuda.is_available():
            torch.set_float32_matmul_precision("high")  # fp32 matmuls on TF32 tensor cores
        print(f"run folder: {self.run_dir}", file=sys.stderr)

    def after_fit(self) -> None:
        """Evaluate the trained model on the held-out split and write results.json."""
        fit_seconds = time.perf_counter() - self._fit_started
        if self.trainer.interrupted:
            return
        tested = self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)
        metrics = tested[0] if tested else {}
        if self.trainer.is_global_zero:
            claim = self.model.claim(metrics) if hasattr(self.model, "claim") else None
            path = write_results(
                self.run_dir, metrics, paper=self.paper, claim=claim, fit_seconds=round(fit_seconds, 2),
                global_step=self.trainer.global_step, epochs=self.trainer.current_epoch, command=self.command,
            )
            metrics_csv = self.run_dir / "metrics.csv"
            if metrics_csv.is_file():
                plot_training_curves(metrics_csv, self.run_dir / "figures" / "training_curves.png")
            print(f"results: {path}", file=sys.stderr)
            for key, value in sorted(metrics.items()):
                print(f"  {key} = {value:.4f}", file=sys.stderr)
            if claim is not None:
                print(f"  claim: {claim}", file=sys.stderr)


def typed_command(module: str, args: list[str] | None) -> str:
    """The command as the user typed it: `papers train NN ...` sets PAPERS_COMMAND for us."""
    if os.environ.get("PAPERS_COMMAND"):
        return os.environ["PAPERS_COMMAND"]
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if args is None else args)])


def run_cli(model_class, datamodule_class, *, paper: str, default_config: str | Path | None = None,
            args: list[str] | None = None) -> PaperCLI | None:
    """Run the CLI; turn configuration mistakes into one line on stderr and exit status 2.

    A rejected setting leaves no run folder behind (see PaperCLI). Set PAPERS_TRACEBACK=1 to see
    the full traceback instead of the one line.
    """
    # Lightning logs "Seed set to 0" before the settings are checked; the seed is in config.yaml
    # anyway, and a mistake should be the only line a user sees.
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    try:
        return PaperCLI(model_class, datamodule_class, paper=paper, default_config=default_config, args=args)
    except (*SETTINGS_ERRORS, NonFiniteLossError) as e:
        if os.environ.get("PAPERS_TRACEBACK"):
            raise
        message = " ".join(str(e).split())  # one line, whatever the library put in
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1 if isinstance(e, NonFiniteLossError) else 2) from None
