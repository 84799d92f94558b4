"""Sampling that survives a resume: batch order depends only on (seed, epoch), and a run stopped
in the middle of an epoch picks up at the very next batch.

PyTorch's RandomSampler draws from the global RNG, so a run resumed from a checkpoint sees the
batches in a different order than an uninterrupted run. `EpochSeededSampler` derives each epoch's
permutation from `seed + epoch`; Lightning calls `set_epoch` at every epoch start, so resuming
at epoch 3 reproduces epoch 3's order exactly.

A run can also stop in the middle of an epoch (`--trainer.max_steps`). `ResumableDataLoader`
remembers how many batches of the current epoch the training loop has taken; Lightning saves that
in the checkpoint (it calls `state_dict` on every training loader that has one) and hands it back
on resume, and the loader then skips exactly those batches of that epoch's order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler


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


class ResumableDataLoader(DataLoader):
    """A DataLoader for the training split that can resume in the middle of an epoch.

    Use it exactly like `DataLoader`, with a sampler whose order depends only on the epoch
    (`EpochSeededSampler`, or no shuffling). Lightning fetches no batch ahead from a loader that
    has a length, so the batches this loader has handed out are the ones the loop has taken. The
    state also names the sampler's epoch: a loader cut short at an epoch's end (`limit_train_batches`,
    or the longer loader of a `CombinedLoader(mode="min_size")`) must not skip anything in the next.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resume: dict[str, Any] | None = None  # where a resumed run left this loader
        self._epoch: int | None = None  # the sampler's epoch when the current pass began
        self._yielded = 0  # batches handed out in the current pass, skipped ones included

    def _sampler_epoch(self) -> int | None:
        return getattr(self.sampler, "epoch", getattr(self.batch_sampler, "epoch", None))

    def __iter__(self) -> Iterator[Any]:
        # A generator: this body runs at the first batch, after Lightning has set the epoch.
        resume, self._resume = self._resume, None
        self._epoch = self._sampler_epoch()
        skip = resume["batches_taken"] if resume and resume.get("epoch") == self._epoch else 0
        self._yielded = skip
        # Skipped batches are loaded and dropped; the embedded datasets make that cheap.
        for batch in itertools.islice(super().__iter__(), skip, None):
            self._yielded += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self._epoch, "batches_taken": self._yielded}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume = dict(state_dict)
