"""The default task: translate English number words into digits, generated in code.

    "three hundred forty two thousand seven"  ->  "342007"

It is a real translation problem in miniature: the two "languages" have different vocabularies,
different lengths and a non-monotonic alignment (the "thousand" decides where the digits after
it go, and zeros have no source word at all), yet it is generated offline in milliseconds and
every answer can be checked exactly. Held-out numbers never appear in training.
"""

from __future__ import annotations

import random

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch.utils.data import DataLoader, Dataset

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SPECIALS = ["<pad>", "<bos>", "<eos>"]
# One joint vocabulary for both sides, as in the paper's shared source/target BPE vocabulary.
VOCAB = SPECIALS + ONES + TENS[2:] + ["hundred", "thousand"] + list("0123456789")
PAD, BOS, EOS = 0, 1, 2
MAX_NUMBER = 999_999


def number_to_words(n: int) -> list[str]:
    """0 <= n <= 999,999 -> its English words, e.g. 1005 -> ['one', 'thousand', 'five']."""
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number must be in [0, {MAX_NUMBER}], got {n}")
    if n == 0:
        return ["zero"]

    def below_thousand(m: int) -> list[str]:
        words = []
        if m >= 100:
            words += [ONES[m // 100], "hundred"]
            m %= 100
        if m >= 20:
            words.append(TENS[m // 10])
            m %= 10
        if m > 0:
            words.append(ONES[m])
        return words

    thousands, rest = divmod(n, 1000)
    return (below_thousand(thousands) + ["thousand"] if thousands else []) + below_thousand(rest)


class Vocab:
    """Token <-> id for the joint vocabulary."""

    def __init__(self, tokens: list[str] = VOCAB) -> None:
        self.tokens = tokens
        self.ids = {t: i for i, t in enumerate(tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> list[int]:
        unknown = [t for t in tokens if t not in self.ids]
        if unknown:
            raise ValueError(f"token {unknown[0]!r} is not in the vocabulary")
        return [self.ids[t] for t in tokens]

    def decode(self, ids) -> list[str]:
        """Ids -> tokens, stopping at EOS and dropping BOS/PAD."""
        out = []
        for i in ids.tolist() if torch.is_tensor(ids) else ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i])
        return out


LENGTHS = range(1, 7)  # numbers have 1 to 6 digits


def _length_range(digits: int) -> range:
    return range(0 if digits == 1 else 10 ** (digits - 1), 10**digits)


def held_out_numbers(count: int, seed: int, exclude: set[int] = frozenset(), cap: float = 0.2) -> list[int]:
    """`count` distinct numbers for evaluation, spread evenly over digit lengths.

    No length gives up more than `cap` of its numbers (there are only ten 1-digit numbers, and
    the model must still see most of them in training); what a short length cannot supply is
    taken from the longer ones.
    """
    rng, chosen, remaining = random.Random(seed), [], count
    for k, digits in enumerate(LENGTHS):
        pool = _length_range(digits)
        take = min(remaining // (len(LENGTHS) - k), int(cap * len(pool)))
        if digits == LENGTHS[-1] and take < remaining:
            raise ValueError(f"cannot hold out {count} numbers with cap {cap}")
        picked: set[int] = set()
        while len(picked) < take:
            n = rng.choice(pool)
            if n not in exclude:
                picked.add(n)
        chosen += sorted(picked)
        remaining -= take
    rng.shuffle(chosen)
    return chosen


def training_numbers(count: int, seed: int, exclude: set[int]) -> list[int]:
    """`count` numbers drawn with replacement, digit lengths 1..6 equally likely, never from `exclude`.

    Repeats are allowed on purpose: short numbers are few, and without repeats they would be
    almost absent from training while being common in real text.
    """
    rng, out = random.Random(seed), []
    while len(out) < count:
        n = rng.choice(_length_range(rng.choice(LENGTHS)))
        if n not in exclude:
            out.append(n)
    return out


class NumberTranslation(Dataset):
    """Pairs (source ids [t_src], target ids [t_tgt]) with target = <bos> digits <eos>."""

    def __init__(self, numbers: list[int], vocab: Vocab) -> None:
        self.numbers, self.vocab = numbers, vocab

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.numbers[i]
        src = self.vocab.encode(number_to_words(n))
        tgt = [BOS, *self.vocab.encode(list(str(n))), EOS]
        return torch.tensor(src), torch.tensor(tgt)


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest source and target in the batch: [batch, t_src], [batch, t_tgt]."""
    srcs, tgts = zip(*batch)
    pad = torch.nn.utils.rnn.pad_sequence
    return pad(list(srcs), batch_first=True, padding_value=PAD), pad(list(tgts), batch_first=True, padding_value=PAD)


class NumberTranslationData(L.LightningDataModule):
    """Train/val/test splits of disjoint numbers, generated from `seed`.

    Args:
        train_size: training pairs per epoch (short numbers repeat; see `training_numbers`).
        val_size: pairs used for validation loss and exact match during training.
        test_size: held-out pairs for the final claim (never seen in training or validation).
        batch_size: pairs per batch.
        seed: fixes which numbers land in which split, and the shuffling order.
    """

    def __init__(self, train_size: int = 20_000, val_size: int = 500, test_size: int = 2_000,
                 batch_size: int = 64, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size),
                            ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()
        self.vocab = Vocab()

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        # Test numbers are drawn first and excluded from everything else: the claim is measured
        # on inputs the model has never seen.
        test = held_out_numbers(hp.test_size, seed=hp.seed + 1)
        val = held_out_numbers(hp.val_size, seed=hp.seed + 2, exclude=set(test), cap=0.1)
        train = training_numbers(hp.train_size, seed=hp.seed + 3, exclude=set(test) | set(val))
        self.train_set, self.val_set, self.test_set = (NumberTranslation(s, self.vocab) for s in (train, val, test))

    def _loader(self, data: Dataset, shuffle: bool) -> DataLoader:
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size, collate_fn=collate,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle),
                                   generator=torch.Generator().manual_seed(self.hparams.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)
