"""Character windows of the embedded plays for decoder language models (papers 09 and 20).

The text is cut into three contiguous parts (90% train, 5% validation, 5% test) so that held-out
text is never seen in training, and into windows of `block_size + 1` characters: the model reads
the first `block_size` and predicts the next character at every position. Each training "epoch"
draws a fixed number of windows afresh, so a run's length does not depend on the corpus size;
validation and test use windows spread evenly over the held-out text.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from shared.data.sampling import EpochSeededSampler, ResumableDataLoader
from shared.data.text import CharTokenizer, load_shakespeare, load_text_file, split_train_val


class Windows(Dataset):
    """Non-overlapping windows of a token stream: item i is ids[i*block : i*block + block + 1], split
    into input x [block] and target y [block] = x shifted left by one."""

    def __init__(self, ids: Tensor, block_size: int) -> None:
        if len(ids) < block_size + 1:
            raise ValueError(f"text of {len(ids)} tokens is shorter than one window "
                             f"(block_size + 1 = {block_size + 1})")
        self.ids, self.block_size = ids, block_size
        self.n = (len(ids) - 1) // block_size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        chunk = self.ids[i * self.block_size : (i + 1) * self.block_size + 1]
        return chunk[:-1], chunk[1:]


class FirstOfEpoch(EpochSeededSampler):
    """The first `count` indices of each epoch's seeded permutation: an "epoch" is a fixed number of
    windows drawn afresh every epoch, so a run's length does not depend on the corpus size."""

    def __init__(self, data: Dataset, count: int, seed: int = 0) -> None:
        super().__init__(data, seed=seed, shuffle=True)
        self.count = min(count, self.n)

    def __iter__(self):
        return iter(list(super().__iter__())[: self.count])

    def __len__(self) -> int:
        return self.count


class CharWindowsData(L.LightningDataModule):
    """Character-level language modelling on the embedded plays (or on your own text file).

    Args:
        block_size: characters the model reads at once (the context length).
        batch_size: windows per batch.
        train_windows: windows drawn per training epoch.
        val_windows, test_windows: evenly spaced held-out windows for validation and the final test.
        text_file: a UTF-8 text file to train on instead of Shakespeare (None: the embedded plays).
        seed: fixes the order in which training windows are drawn.
    """

    def __init__(self, block_size: int = 128, batch_size: int = 32, train_windows: int = 2400,
                 val_windows: int = 64, test_windows: int = 256, text_file: str | None = None, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("block_size", block_size), ("batch_size", batch_size), ("train_windows", train_windows),
                            ("val_windows", val_windows), ("test_windows", test_windows)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()
        self.text = load_text_file(text_file) if text_file else load_shakespeare()
        self.tokenizer = CharTokenizer.fit(self.text)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        ids = self.tokenizer.encode(self.text)
        train, held_out = split_train_val(ids, val_fraction=0.1)
        val, test = split_train_val(held_out, val_fraction=0.5)
        self.train_set = Windows(train, hp.block_size)
        self.val_set = self._evenly_spaced(Windows(val, hp.block_size), hp.val_windows)
        self.test_set = self._evenly_spaced(Windows(test, hp.block_size), hp.test_windows)

    @staticmethod
    def _evenly_spaced(data: Windows, count: int) -> torch.utils.data.Subset:
        """`count` windows spread over the whole held-out text, not just its first scene."""
        picks = torch.linspace(0, len(data) - 1, min(count, len(data))).long().unique().tolist()
        return torch.utils.data.Subset(data, picks)

    def train_dataloader(self) -> DataLoader:
        sampler = FirstOfEpoch(self.train_set, self.hparams.train_windows, seed=self.hparams.seed)
        return ResumableDataLoader(self.train_set, batch_size=self.hparams.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.hparams.batch_size)
