"""scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside scikit-learn: nothing downloads),
scaled to [-1, 1] as DDPM scales its images (Section 4), with their labels for the classifiers."""

from __future__ import annotations

import lightning as L
from shared.data import EpochSeededSampler, ResumableDataLoader, load_digits_tensors
from torch.utils.data import DataLoader, TensorDataset


class DigitsData(L.LightningDataModule):
    """Training split (1,437 images) and the held-out test split (360), stratified by class.

    Args:
        batch_size: images per mini-batch.
        seed: fixes the split and the shuffling order.
    """

    def __init__(self, batch_size: int = 128, seed: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        x_train, y_train, x_test, y_test = load_digits_tensors(test_fraction=0.2, seed=self.hparams.seed)
        self.train_set = TensorDataset(x_train * 2 - 1, y_train)  # [1437, 1, 8, 8] in [-1, 1]
        self.test_set = TensorDataset(x_test * 2 - 1, y_test)  # [360, 1, 8, 8]

    def _loader(self, data, shuffle: bool) -> DataLoader:
        # Epoch-seeded order + a resumable loader: `--ckpt_path last` continues at the very next batch.
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False)
