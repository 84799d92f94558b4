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
- one-line errors for wrong settings and impossible hyperparameters.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Literal

import torch
from jsonargparse import ArgumentError
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from shared.callbacks import FiniteLossGuard, NonFiniteLossError, RNGStateCheckpoint
from shared.figures import plot_training_curves
from shared.loggers import make_loggers
from shared.runs import find_last_checkpoint, new_run_dir, write_results

SUBCOMMANDS = ("fit", "validate", "test", "predict")


class PaperCLI(LightningCLI):
    def __init__(self, model_class, datamodule_class, *, paper: str, default_config: str | Path | None = None,
                 args: list[str] | None = None, **kwargs: Any) -> None:
        self.paper = paper
        defaults = [str(default_config)] if default_config else []
        parser_kwargs = {sub: {"default_config_files": defaults, "exit_on_error": False} for sub in SUBCOMMANDS}
        parser_kwargs["exit_on_error"] = False
        super().__init__(
            model_class,
            datamodule_class,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},  # resuming into the same run folder rewrites config.yaml
            parser_kwargs=parser_kwargs,
            args=args,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--run.root", type=str, default="runs", help="folder holding every run's folder")
        parser.add_argument("--run.name", type=str | None, default=None,
                            help="this run's folder name (default: a timestamp); "
                                 "with --ckpt_path last, the run to resume")
        parser.add_argument("--run.logger", type=Literal["csv", "tensorboard", "wandb", "none"], default="csv",
                            help="where metrics go; wandb is offline unless you are logged in")

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand]
        run = cfg.run
        if cfg.get("ckpt_path") == "last":
            ckpt = find_last_checkpoint(run.root, self.paper, run.name)
            cfg.ckpt_path = str(ckpt)
            self.run_dir = new_run_dir(run.root, self.paper, ckpt.parent.parent.name)
        else:
            self.run_dir = new_run_dir(run.root, self.paper, run.name)
        cfg.trainer.default_root_dir = str(self.run_dir)

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except Exception:
            # A rejected setting should not leave an empty run folder behind.
            if self.run_dir.is_dir() and not any(self.run_dir.iterdir()):
                self.run_dir.rmdir()
            raise

    def instantiate_trainer(self, **kwargs: Any):
        cfg = self.config_init[self.subcommand]
        if cfg.trainer.get("logger") in (None, True) and cfg.run.logger != "none":
            kwargs["logger"] = make_loggers(cfg.run.logger, self.run_dir, project=f"ai-papers-{self.paper}")
        self.trainer_defaults["callbacks"] = [
            ModelCheckpoint(dirpath=self.run_dir / "checkpoints", save_last=True, save_top_k=0),
            FiniteLossGuard(),
            RNGStateCheckpoint(),
        ]
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
                global_step=self.trainer.global_step, epochs=self.trainer.current_epoch,
                command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            )
            metrics_csv = self.run_dir / "metrics.csv"
            if metrics_csv.is_file():
                plot_training_curves(metrics_csv, self.run_dir / "figures" / "training_curves.png")
            print(f"results: {path}", file=sys.stderr)
            for key, value in sorted(metrics.items()):
                print(f"  {key} = {value:.4f}", file=sys.stderr)
            if claim is not None:
                print(f"  claim: {claim}", file=sys.stderr)


def run_cli(model_class, datamodule_class, *, paper: str, default_config: str | Path | None = None,
            args: list[str] | None = None) -> PaperCLI | None:
    """Run the CLI; turn configuration mistakes into one line on stderr and exit status 2.

    Set PAPERS_TRACEBACK=1 to see the full traceback instead.
    """
    # Lightning logs "Seed set to 0" before the settings are checked; the seed is in config.yaml
    # anyway, and a mistake should be the only line a user sees.
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    try:
        return PaperCLI(model_class, datamodule_class, paper=paper, default_config=default_config, args=args)
    except (ArgumentError, ValueError, FileNotFoundError, NonFiniteLossError) as e:
        if os.environ.get("PAPERS_TRACEBACK"):
            raise
        message = " ".join(str(e).split())  # one line, whatever the library put in
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1 if isinstance(e, NonFiniteLossError) else 2) from None
