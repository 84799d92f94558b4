"""Logger choice: CSV by default, TensorBoard or Weights & Biases when asked.

W&B runs offline unless the user is logged in (an API key in the environment or ~/.netrc),
so a learner without an account never sees a login prompt. Tests never use it.
"""

from __future__ import annotations

import csv
import netrc
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; a resumed run must append to it."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = sorted(next(csv.reader(f), []))


class ResumableCSVLogger(CSVLogger):
    """CSVLogger that keeps the rows of earlier sessions of the same run (see `--ckpt_path last`)."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

LOGGERS = ("csv", "tensorboard", "wandb", "none")


def wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def make_loggers(kinds: str | list[str], run_dir: str | Path, project: str) -> list[Logger]:
    """Loggers writing into `run_dir`. `kinds` is one of LOGGERS or a list of them."""
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = [k for k in kinds if k not in LOGGERS]
    if unknown:
        raise ValueError(f"--run.logger: unknown logger {unknown[0]!r}; choose from {', '.join(LOGGERS)}")
    run_dir = Path(run_dir)
    loggers: list[Logger] = []
    for kind in kinds:
        if kind == "csv":
            # name="" and version="" put metrics.csv straight into the run folder.
            loggers.append(ResumableCSVLogger(save_dir=run_dir, name="", version=""))
        elif kind == "tensorboard":
            loggers.append(TensorBoardLogger(save_dir=run_dir, name="tensorboard", version=""))
        elif kind == "wandb":
            if os.environ.get("PYTEST_CURRENT_TEST"):
                raise ValueError("--run.logger wandb is disabled in tests")
            from lightning.pytorch.loggers import WandbLogger

            loggers.append(
                WandbLogger(project=project, name=run_dir.name, save_dir=run_dir, offline=not wandb_logged_in())
            )
    return loggers
