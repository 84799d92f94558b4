"""The data: six capability suites of generated tasks, a pre-training corpus made of them, and a copy of
that corpus with known evaluation items planted in it (the contamination experiment).

Every line is one task instance, "prompt" followed by "answer", for example `a 47+85=132`. The model
is pre-trained on whole lines (prompt and answer), like a language model on documents; the evaluation
harness shows it a prompt and grades what it writes next.

| suite   | prompt          | answer | what it takes                         | grader     |
|---------|-----------------|--------|---------------------------------------|------------|
| copy    | `c kqzt=`       | kqzt   | copy four letters                     | exact      |
| reverse | `r kqzt=`       | tzqk   | reverse four letters                  | exact      |
| sort    | `s 38152=`      | 12358  | sort five digits                      | exact      |
| add     | `a 47+85=`      | 132    | add two 2-digit numbers               | exact      |
| choice  | `m 47 85 12 66=`| B      | which of A-D is largest (multiple choice) | exact  |
| even    | `e 38152=`      | 8      | any even digit of the list            | rule-based |

`even` has several right answers (the corpus shows a random one), so exact match against one reference
undercounts it; a rule checks the answer instead. `choice` has four options, like an MMLU question: the
model's probability of each letter gives the confidence that the calibration plot bins.

The evaluation items are drawn first; the clean corpus is then drawn with every line whose prompt is an
evaluation prompt thrown away, so nothing leaks by chance. The training copy is the clean corpus plus
`leak_copies` copies of a `leak_fraction` of the evaluation items (prompt and answer): the ground truth
the contamination check must recover.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch.utils.data import TensorDataset

SPECIALS = ["<pad>", "<bos>", "<eos>"]
CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCD +="
VOCAB = SPECIALS + list(CHARS)
PAD, BOS, EOS = 0, 1, 2
STOI = {ch: i for i, ch in enumerate(VOCAB) if i >= len(SPECIALS)}
N_CTX = 18  # <bos> + the longest line (15 characters: `m 47 85 12 66=B`) + <eos>, padded to 18
LETTERS = "abcdefghijklmnopqrstuvwxyz"
OPTIONS = "ABCD"


@dataclass(frozen=True)
class Item:
    suite: str
    prompt: str
    answer: str  # the reference answer (for `even`, one of several right answers)

    @property
    def line(self) -> str:
        return self.prompt + self.answer


def _copy(rng: random.Random) -> Item:
    w = "".join(rng.choice(LETTERS) for _ in range(4))
    return Item("copy", f"c {w}=", w)


def _reverse(rng: random.Random) -> Item:
    w = "".join(rng.choice(LETTERS) for _ in range(4))
    return Item("reverse", f"r {w}=", w[::-1])


def _sort(rng: random.Random) -> Item:
    d = "".join(rng.choice("0123456789") for _ in range(5))
    return Item("sort", f"s {d}=", "".join(sorted(d)))


def _add(rng: random.Random) -> Item:
    x, y = rng.randrange(100), rng.randrange(100)
    return Item("add", f"a {x:02d}+{y:02d}=", str(x + y))


def _choice(rng: random.Random) -> Item:
    nums = rng.sample(range(10, 100), 4)  # four distinct 2-digit numbers, options A-D
    return Item("choice", "m " + " ".join(map(str, nums)) + "=", OPTIONS[nums.index(max(nums))])


def _even(rng: random.Random) -> Item:
    while True:
        d = "".join(rng.choice("0123456789") for _ in range(5))
        evens = [c for c in d if int(c) % 2 == 0]
        if evens:
            return Item("even", f"e {d}=", rng.choice(evens))


SUITES = {"copy": _copy, "reverse": _reverse, "sort": _sort, "add": _add, "choice": _choice, "even": _even}


def encode(text: str) -> list[int]:
    """Characters to token ids (no <bos>/<eos>)."""
    try:
        return [STOI[ch] for ch in text]
    except KeyError as e:
        raise ValueError(f"character {e.args[0]!r} is not in the vocabulary") from None


def decode(ids) -> str:
    """Token ids to text, stopping at the first <eos>; <pad> and <bos> are dropped."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i >= len(SPECIALS):
            out.append(VOCAB[i])
    return "".join(out)


def encode_lines(lines: list[str]) -> torch.Tensor:
    """Lines to [n, N_CTX] token ids: <bos> line <eos>, padded with <pad>."""
    out = torch.full((len(lines), N_CTX), PAD, dtype=torch.long)
    for r, line in enumerate(lines):
        ids = [BOS, *encode(line), EOS]
        if len(ids) > N_CTX:
            raise ValueError(f"line {line!r} is longer than {N_CTX - 2} characters")
        out[r, : len(ids)] = torch.tensor(ids)
    return out


def eval_items(n_per_suite: int, seed: int) -> list[Item]:
    """`n_per_suite` items of every suite with distinct prompts, suite by suite."""
    rng = random.Random(seed)
    items: list[Item] = []
    for make in SUITES.values():
        seen: set[str] = set()
        while len(seen) < n_per_suite:
            item = make(rng)
            if item.prompt not in seen:
                seen.add(item.prompt)
                items.append(item)
    return items


def clean_corpus(n_per_suite: int, seed: int, exclude: set[str]) -> list[str]:
    """Training lines, the suites interleaved, none whose prompt is in `exclude` (the evaluation prompts)."""
    rng = random.Random(seed)
    lines = []
    while len(lines) < n_per_suite * len(SUITES):
        for make in SUITES.values():
            item = make(rng)
            if item.prompt not in exclude:
                lines.append(item.line)
    return lines[: n_per_suite * len(SUITES)]


def plant_leaks(clean: list[str], items: list[Item], fraction: float, copies: int,
                seed: int) -> tuple[list[str], set[int]]:
    """A copy of `clean` with `copies` copies of a random `fraction` of every suite's items appended
    (prompt and answer, as a leaked answer key would be); returns the copy and the leaked items' indices."""
    rng = random.Random(seed)
    leaked: set[int] = set()
    for suite in SUITES:
        idx = [i for i, it in enumerate(items) if it.suite == suite]
        leaked.update(rng.sample(idx, round(fraction * len(idx))))
    planted = [items[i].line for i in sorted(leaked) for _ in range(copies)]
    return list(clean) + planted, leaked


class Data(L.LightningDataModule):
    """The training copy (clean corpus + planted leaks), a clean held-out set for the loss, the suites.

    Args:
        n_train_per_suite: clean training lines per suite.
        n_val_per_suite: held-out lines per suite for the loss that the scaling law predicts.
        n_eval_per_suite: evaluation items per suite (the capability suites).
        leak_fraction: the fraction of every suite's evaluation items planted in the training copy.
        leak_copies: how many times each planted item is written into it.
        batch_size: lines per training step.
        seed: the seed of the evaluation items, the corpus, the leaks and the training order.
    """

    def __init__(self, n_train_per_suite: int = 4000, n_val_per_suite: int = 200, n_eval_per_suite: int = 300,
                 leak_fraction: float = 0.1, leak_copies: int = 4, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_train_per_suite", n_train_per_suite), ("n_val_per_suite", n_val_per_suite),
                            ("n_eval_per_suite", n_eval_per_suite), ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if not 0 <= leak_fraction <= 1:
            raise ValueError(f"data.leak_fraction must be in [0, 1], got {leak_fraction}")
        if leak_copies < 1:
            raise ValueError(f"data.leak_copies must be >= 1, got {leak_copies}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.items = eval_items(hp.n_eval_per_suite, hp.seed)
        prompts = {it.prompt for it in self.items}
        self.clean = clean_corpus(hp.n_train_per_suite, hp.seed + 1, prompts)
        self.train_lines, self.leaked = plant_leaks(self.clean, self.items, hp.leak_fraction, hp.leak_copies,
                                                    hp.seed + 2)
        # held-out lines for the loss: fresh draws, none an evaluation prompt or a training line
        seen = prompts | {line for line in self.clean}
        self.val_lines = [ln for ln in clean_corpus(hp.n_val_per_suite * 2, hp.seed + 3, prompts)
                          if ln not in seen][: hp.n_val_per_suite * len(SUITES)]
        self.train_set = TensorDataset(encode_lines(self.train_lines))
        self.val_set = TensorDataset(encode_lines(self.val_lines))

    def _loader(self, data, shuffle: bool):
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)

    def test_dataloader(self):
        return self._loader(self.val_set, False)


def irreducible_loss() -> float:
    """The loss no model can beat on this corpus, in nats per predicted token: the entropy of the random
    parts of a line (which suite, the operands, which even digit) over the tokens predicted (the line's
    characters and <eos>), averaged over the six suites in equal shares. Answers are a function of the
    prompt (except `even`'s choice), so they add tokens but no entropy."""
    import itertools
    import math

    log = math.log
    h = {"copy": 4 * log(26), "reverse": 4 * log(26), "sort": 5 * log(10), "add": 4 * log(10),
         "choice": log(90 * 89 * 88 * 87)}
    tokens = {"copy": 12, "reverse": 12, "sort": 14, "choice": 16}  # line length + <eos>
    # add: "a xx+yy=" (8) + the sum's digits + <eos>, averaged over the 10,000 operand pairs
    tokens["add"] = sum(9 + len(str(x + y)) for x in range(100) for y in range(100)) / 10_000
    # even: the five digits given at least one is even, then the pick of one even position
    lists = [d for d in itertools.product(range(10), repeat=5) if any(v % 2 == 0 for v in d)]
    pick = 0.0
    for d in lists:
        evens = [v for v in d if v % 2 == 0]
        pick += sum(-(evens.count(v) / len(evens)) * log(evens.count(v) / len(evens)) for v in set(evens))
    h["even"], tokens["even"] = log(len(lists)) + pick / len(lists), 10
    return (len(SUITES) * log(len(SUITES)) + sum(h.values())) / sum(tokens.values())
