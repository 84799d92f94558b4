"""The embedded default data: generated instructions and the demonstrators' responses.

An instruction is a task word and a few digits: `sort 3 1 2`, `reverse 3 1 2`, `max 3 1 2`. The
prompt is left-padded to a fixed length, so every response starts at the same position:

    prompt   [BOS sort 3 1 2 SEP]      P = max_digits + 3 tokens (here max_digits = 3)
    response [1 2 3 EOS PAD PAD PAD]   R = 2 * max_digits + 1 tokens

The demonstrators stand in for the paper's labelers writing demonstrations (Section 3.4): they
answer correctly, but with probability `p_repeat` they restate the answer before ending
(`1 2 3 1 2 3 EOS`). The labeler (labeler.py) prefers answers without the repetition: a habit that
SFT copies from the demonstrations and that only the comparisons can teach the policy to drop.
"""

from __future__ import annotations

import random

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch.utils.data import TensorDataset

PAD, BOS, SEP, EOS = 0, 1, 2, 3
DIGIT0 = 4  # tokens 4..13 are the digits 0..9
TASKS = {"sort": 14, "reverse": 15, "max": 16}
VOCAB = ["<pad>", "<bos>", "<sep>", "<eos>", *map(str, range(10)), *TASKS]


def answer(task: str, digits: list[int]) -> list[int]:
    """The correct answer to an instruction, as digits."""
    if task == "sort":
        return sorted(digits)
    if task == "reverse":
        return digits[::-1]
    if task == "max":
        return [max(digits)]
    raise ValueError(f"unknown task {task!r}")


def encode_prompt(task: str, digits: list[int], max_digits: int) -> list[int]:
    body = [BOS, TASKS[task], *(DIGIT0 + d for d in digits), SEP]
    return [PAD] * (max_digits + 3 - len(body)) + body


def decode_prompt(prompt: list[int]) -> tuple[str, list[int]]:
    """(task, digits) back from a prompt's tokens."""
    words = {v: k for k, v in TASKS.items()}
    tokens = [t for t in prompt if t not in (PAD, BOS, SEP)]
    return words[tokens[0]], [t - DIGIT0 for t in tokens[1:]]


def demonstration(task: str, digits: list[int], max_digits: int, rng: random.Random, p_repeat: float) -> list[int]:
    """A demonstrator's response: the correct answer, restated with probability p_repeat, then EOS."""
    ans = [DIGIT0 + d for d in answer(task, digits)]
    body = ans + (ans if rng.random() < p_repeat else []) + [EOS]
    return body + [PAD] * (2 * max_digits + 1 - len(body))


def instructions(n: int, seed: int, max_digits: int, exclude: set | None = None) -> list[tuple[str, tuple[int, ...]]]:
    """n distinct instructions (task, digits) with 2..max_digits digits, none of them in `exclude`."""
    rng = random.Random(seed)
    seen = set(exclude or ())
    out = []
    while len(out) < n:
        item = (rng.choice(list(TASKS)), tuple(rng.randrange(10) for _ in range(rng.randint(2, max_digits))))
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


class Data(L.LightningDataModule):
    """Train prompts with demonstrations; held-out validation and test prompts (never trained on)."""

    def __init__(self, n_train: int = 1000, n_val: int = 128, n_test: int = 512, batch_size: int = 32,
                 max_digits: int = 3, p_repeat: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if max_digits < 2:
            raise ValueError(f"data.max_digits must be >= 2, got {max_digits}")
        if not 0 <= p_repeat <= 1:
            raise ValueError(f"data.p_repeat must be in [0, 1], got {p_repeat}")
        if n_train + n_val + n_test > 0.5 * len(TASKS) * sum(10**k for k in range(2, max_digits + 1)):
            raise ValueError(f"data.n_train + n_val + n_test = {n_train + n_val + n_test} is too many distinct "
                             f"instructions for data.max_digits = {max_digits}")
        self.save_hyperparameters()

    @property
    def prompt_len(self) -> int:
        return self.hparams.max_digits + 3

    @property
    def response_len(self) -> int:
        return 2 * self.hparams.max_digits + 1

    def _split(self, items, seed: int) -> TensorDataset:
        hp, rng = self.hparams, random.Random(seed)
        prompts = [encode_prompt(t, list(d), hp.max_digits) for t, d in items]
        demos = [demonstration(t, list(d), hp.max_digits, rng, hp.p_repeat) for t, d in items]
        return TensorDataset(torch.tensor(prompts), torch.tensor(demos))  # [n, P], [n, R]

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        test = instructions(hp.n_test, hp.seed + 2, hp.max_digits)
        val = instructions(hp.n_val, hp.seed + 1, hp.max_digits, exclude=set(test))
        train = instructions(hp.n_train, hp.seed, hp.max_digits, exclude=set(test) | set(val))
        self.train_set, self.val_set, self.test_set = (self._split(s, hp.seed + i) for i, s in
                                                       enumerate((train, val, test)))

    def _loader(self, data, shuffle: bool) -> ResumableDataLoader:
        # Epoch-seeded order + a resumable loader: `--ckpt_path last` continues at the very next batch.
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)

    def test_dataloader(self):
        return self._loader(self.test_set, False)
