"""The default corpus: Shakespeare's complete plays (embedded, 4.8 million characters), one token per character.

GPT-2 was trained on WebText (40 GB) with a byte-level BPE vocabulary of 50,257 tokens; neither
fits a laptop, so the default run models characters, nanoGPT's `shakespeare_char` setting. The
model code does not care: point `data.text_file` at any UTF-8 text, or load real GPT-2 weights
and its tokenizer (see convert.py).

The text is split contiguously: the first 90% trains, the next 5% is validation, the last 5% is
the held-out test text on which the claim is measured. No window crosses a split boundary.
"""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import torch
from shared.data import CharTokenizer, load_shakespeare
from shared.data.text import load_text_file
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler


class Windows(Dataset):
    """Item `start` -> (x, y): tokens [start, start + T) and the same shifted by one, each [T]."""

    def __init__(self, ids: Tensor, block_size: int) -> None:
        if len(ids) < block_size + 1:
            raise ValueError(f"text of {len(ids)} tokens is shorter than block_size + 1 = {block_size + 1}")
        self.ids, self.block_size = ids, block_size

    def __len__(self) -> int:
        return len(self.ids) - self.block_size  # every valid start position

    def __getitem__(self, start: int) -> tuple[Tensor, Tensor]:
        chunk = self.ids[start : start + self.block_size + 1]
        return chunk[:-1], chunk[1:]  # the target of position t is the token at t + 1


class RandomStarts(Sampler[int]):
    """`num_samples` random start positions per epoch, drawn from (seed, epoch) only.

    Random offsets (as nanoGPT samples them) give the model every alignment of the text; seeding
    by epoch means a run resumed from a checkpoint draws exactly the windows an uninterrupted run does.
    """

    def __init__(self, n_starts: int, num_samples: int, seed: int = 0) -> None:
        self.n_starts, self.num_samples, self.seed, self.epoch = n_starts, num_samples, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randint(self.n_starts, (self.num_samples,), generator=g).tolist())

    def __len__(self) -> int:
        return self.num_samples


class EvenlySpaced(Sampler[int]):
    """`count` fixed start positions spread evenly over a split (the same ones every evaluation)."""

    def __init__(self, n_starts: int, count: int) -> None:
        self.starts = torch.linspace(0, n_starts - 1, min(count, n_starts)).long().tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.starts)

    def __len__(self) -> int:
        return len(self.starts)


class CharText(L.LightningDataModule):
    """Character-level language-modelling data: random training windows, fixed held-out windows.

    Args:
        text_file: a UTF-8 text file to model instead of the embedded Shakespeare.
        block_size: T, tokens per training window (at most the model's context n_ctx).
        batch_size: windows per batch.
        train_batches_per_epoch: batches in one "epoch"; validation runs after each.
        val_windows: fixed windows of the validation split scored after every epoch.
        test_windows: fixed windows of the test split scored once at the end (the claim).
        seed: fixes the training windows' order.
    """

    def __init__(self, text_file: str | None = None, block_size: int = 64, batch_size: int = 32,
                 train_batches_per_epoch: int = 100, val_windows: int = 256, test_windows: int = 1024,
                 seed: int = 0) -> None:
        super().__init__()
        for name, value in (("block_size", block_size), ("batch_size", batch_size),
                            ("train_batches_per_epoch", train_batches_per_epoch), ("val_windows", val_windows),
                            ("test_windows", test_windows)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()
        text = load_text_file(text_file) if text_file else load_shakespeare()
        # The vocabulary is every character of the corpus (as nanoGPT's shakespeare_char does),
        # so a held-out character can never be unknown.
        self.tokenizer = CharTokenizer.fit(text)
        self._text = text
        self.splits: dict[str, Tensor] = {}

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return  # fit and the final test share one encoding of the text
        ids = self.tokenizer.encode(self._text)  # [n_chars]
        n_train, n_val = int(0.9 * len(ids)), int(0.05 * len(ids))
        self.splits = {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}

    def _windows(self, split: str) -> Windows:
        return Windows(self.splits[split], self.hparams.block_size)

    def train_dataloader(self) -> DataLoader:
        hp, data = self.hparams, self._windows("train")
        sampler = RandomStarts(len(data), hp.train_batches_per_epoch * hp.batch_size, seed=hp.seed)
        return DataLoader(data, batch_size=hp.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        data = self._windows("val")
        return DataLoader(data, batch_size=self.hparams.batch_size,
                          sampler=EvenlySpaced(len(data), self.hparams.val_windows))

    def test_dataloader(self) -> DataLoader:
        data = self._windows("test")
        return DataLoader(data, batch_size=self.hparams.batch_size,
                          sampler=EvenlySpaced(len(data), self.hparams.test_windows))

