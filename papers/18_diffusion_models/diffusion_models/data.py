"""The embedded default data, generated in code. Replace with the paper's task."""

from __future__ import annotations

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch.utils.data import DataLoader, TensorDataset


def two_blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) + (y[:, None] * 2 - 1) * 1.5  # two well-separated classes
    return x, y


class Data(L.LightningDataModule):
    def __init__(self, n_train: int = 2000, n_test: int = 500, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_train", n_train), ("n_test", n_test), ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.train_set = TensorDataset(*two_blobs(hp.n_train, hp.seed))
        self.test_set = TensorDataset(*two_blobs(hp.n_test, hp.seed + 1))

    def _loader(self, data, shuffle: bool) -> DataLoader:
        # Epoch-seeded order + a resumable loader: `--ckpt_path last` continues at the very next batch.
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.test_set, False)

    def test_dataloader(self):
        return self._loader(self.test_set, False)
