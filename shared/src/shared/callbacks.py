"""Trainer callbacks every paper gets by default."""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from lightning.pytorch import Callback


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
