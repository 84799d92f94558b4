"""A shuffling sampler whose order depends only on (seed, epoch).

PyTorch's RandomSampler draws from the global RNG, so a run resumed from a checkpoint sees the
batches in a different order than an uninterrupted run. This sampler derives each epoch's
permutation from `seed + epoch`; Lightning calls `set_epoch` at every epoch start, so resuming
at epoch 3 reproduces epoch 3's order exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler[int]):
    def __init__(self, data: Sized, seed: int = 0, shuffle: bool = True) -> None:
        self.n = len(data)
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n
