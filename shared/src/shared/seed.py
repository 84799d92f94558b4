"""Seeding: one call makes Python, NumPy and PyTorch (and DataLoader workers) repeatable."""

from __future__ import annotations

import os

import torch
from lightning.pytorch import seed_everything as _lightning_seed


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed every random number generator a run touches and return the seed.

    deterministic=True also asks PyTorch for deterministic kernels (slower on GPU; on CPU the
    kernels we use are already deterministic). `warn_only` keeps ops without a deterministic
    version usable instead of crashing mid-run.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _lightning_seed(seed, workers=True, verbose=False)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return seed
