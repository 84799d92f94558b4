"""Trainer callbacks every paper gets by default."""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or inf; the message says where and what to try."""


class FiniteLossGuard(Callback):
    """Stop at the first non-finite training loss with a clear message, instead of training on NaNs."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        value = float(loss.detach().float().cpu()) if torch.is_tensor(loss) else float(loss)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"training loss became {value} at epoch {trainer.current_epoch}, step {trainer.global_step}: "
                "stopped. Try a lower learning rate, a longer warmup, gradient clipping, or fp32 precision."
            )


class RNGStateCheckpoint(Callback):
    """Save the global RNG states in checkpoints and restore them when training resumes.

    Lightning restores weights, optimizer, scheduler and loop counters, but not the random number
    generators that drive dropout. Without them, a resumed run draws different dropout masks and
    ends at different numbers than the uninterrupted run. The states are re-applied at
    `on_train_start` (after the sanity-check validation, which an uninterrupted run did at step 0).
    """

    def __init__(self) -> None:
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        # Only tensors and plain Python values, so checkpoints still load with torch.load(weights_only=True).
        name, keys, pos, has_gauss, cached = np.random.get_state()
        numpy_state = (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))
        state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer, pl_module) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        random.setstate(state["python"])
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class LastCheckpoint(ModelCheckpoint):
    """`last.ckpt` that also captures a run stopped by `--trainer.max_steps`.

    Lightning saves `last.ckpt` at the end of an epoch. A run stopped by `max_steps` part-way
    through an epoch still reaches "epoch end" (the epoch is cut short), so its checkpoint says
    the epoch is finished: a resumed run would start the *next* epoch, skipping the rest of this
    one's batches, and drift from an uninterrupted run (a stop on an epoch's last step was
    miscounted too). Saving at the last step's `on_train_batch_end` records the loop as it really
    is; with `ResumableDataLoader` the resumed run continues at the very next batch. The later
    end-of-epoch save is skipped by ModelCheckpoint itself (same global step).

    When a validation is due right after that last step, the save waits for its end: a resumed
    Lightning loop counts that validation as done, so whatever the model records while validating
    (a curve for a figure) must already be in the checkpoint.

    The same save is made on the last batch of the last epoch when `max_steps` is set too (a run
    stopped by `max_epochs` before it reaches `max_steps`). Lightning treats a run with `max_steps`
    as iteration-based and restores even an end-of-epoch checkpoint as if the epoch were still
    running: a resumed run then took one batch of the next epoch instead of all of them.
    """

    _save_after_validation = False

    @staticmethod
    def _stops_after_this_batch(trainer) -> bool:
        if 0 < trainer.max_steps <= trainer.global_step:
            return True
        last_epoch = trainer.max_epochs not in (None, -1) and trainer.current_epoch + 1 >= trainer.max_epochs
        return trainer.max_steps > 0 and last_epoch and trainer.fit_loop.epoch_loop.batch_progress.is_last_batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._stops_after_this_batch(trainer) and not self._should_skip_saving_checkpoint(trainer):
            loop = trainer.fit_loop
            # Lightning's own test for "validate after this batch" (private, pinned by uv.lock).
            if loop.epoch_loop._should_check_val_fx(loop._data_fetcher):
                self._save_after_validation = True
            else:
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._save_after_validation and not trainer.sanity_checking:
            self._save_after_validation = False
            if not self._should_skip_saving_checkpoint(trainer):
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        super().on_validation_end(trainer, pl_module)


class EpochProgressBar(TQDMProgressBar):
    """The progress bar, counting epochs from 1 ("Epoch 2/2" on the last of two epochs).

    Lightning's own bars count from 0 ("Epoch 1/1" for the second of two epochs), which reads
    as if the run were one epoch long.
    """

    def on_train_epoch_start(self, trainer, *args) -> None:
        # TQDMProgressBar.on_train_epoch_start with the description set before the bar first draws.
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        of = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}{of}", refresh=False)
        self.train_progress_bar.reset(total=convert_inf(self.total_train_batches))
        self.train_progress_bar.initial = 0
