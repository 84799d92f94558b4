"""The default corpus: Shakespeare's complete plays (embedded, 4.8 million characters), one token per character.

GPT-2 was trained on WebText (40 GB) with a byte-level BPE vocabulary of 50,257 tokens; neither
fits a laptop, so the default run models characters, nanoGPT's `shakespeare_char` setting. The
model code does not care: point `data.text_file` at any UTF-8 text, or load real GPT-2 weights
and its tokenizer (see convert.py).

The text is split contiguously: the first 90% trains, the next 5% is validation, the last 5% is
the held-out test text on which the claim is measured. No window crosses a split boundary.

The zero-shot task (`word_order_questions`) is built from the held-out test text only: the model
must pick a real line of the play among shuffled versions of it, by likelihood alone, with no training
on the task (the multiple-choice method of the paper's Children's Book Test, Section 3.2).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import torch
from shared.data import CharTokenizer, ResumableDataLoader, load_shakespeare
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


# --- The zero-shot task: which word order is the real one? -----------------------------------------

ORDER_MIN_WORDS = 6  # a line with 6 words has 4 inner words: 24 orders, enough for 10 distinct choices
ORDER_MIN_CONTEXT = 16  # characters of real text before the line, at least


@dataclass
class MultipleChoice:
    """Questions answered by likelihood.

    ids [questions, choices, L]: the same window of held-out text with each choice written into it
    (every choice has the same length); score_from [questions]: where the choices start (from there to
    the end of the window is scored); answer [questions]: which choice is the real text. Chance is
    1 / choices.
    """

    ids: Tensor
    score_from: Tensor
    answer: Tensor

    @property
    def n_choices(self) -> int:
        return self.ids.size(1)


def word_order_questions(text: str, tokenizer: CharTokenizer, n_questions: int, n_choices: int = 10,
                         length: int = 65, seed: int = 0) -> MultipleChoice | None:
    """The real line against n_choices - 1 shuffles of its inner words (first and last word stay put).

    Lines of at least ORDER_MIN_WORDS words that fit in a `length`-character window after
    ORDER_MIN_CONTEXT characters of context are eligible; the questions are evenly spaced over them.
    Every choice holds exactly the same characters, so knowing which words or letters are common
    cannot help, and the line keeps its capital, its first and its last word (with any final
    punctuation), so layout cannot help either: only knowing how words follow each other can.
    None if the text offers no question (or n_questions is 0).
    """
    if n_choices < 2:
        raise ValueError(f"data.zeroshot_choices must be >= 2, got {n_choices}")
    if n_questions < 1:
        return None
    lines = []
    for m in re.finditer(r"[^\n]+", text):
        words = m.group(0).split(" ")
        fits = m.end() >= length and m.end() - m.start() <= length - ORDER_MIN_CONTEXT
        if fits and len(words) >= ORDER_MIN_WORDS and "" not in words:
            lines.append((m.start(), m.end(), words))
    if not lines:
        return None
    rng = random.Random(seed)
    picks = torch.linspace(0, len(lines) - 1, min(n_questions, len(lines))).long().tolist()
    text_ids = tokenizer.encode(text).tolist()
    ids, score_from, answer = [], [], []
    for i in picks:
        a, b, words = lines[i]
        choices = [text[a:b]]
        for _ in range(100 * n_choices):  # distinct shuffles of the inner words
            if len(choices) == n_choices:
                break
            inner = words[1:-1]
            rng.shuffle(inner)
            shuffled = " ".join([words[0], *inner, words[-1]])
            if shuffled not in choices:
                choices.append(shuffled)
        if len(choices) < n_choices:
            continue  # repeated words leave too few distinct orders
        position = rng.randrange(n_choices)
        choices[0], choices[position] = choices[position], choices[0]  # the real line at a random place
        start = b - length
        ids.append([text_ids[start:a] + [tokenizer.stoi[ch] for ch in c] for c in choices])  # [choices, length]
        score_from.append(a - start)
        answer.append(position)
    if not ids:
        return None
    return MultipleChoice(torch.tensor(ids), torch.tensor(score_from), torch.tensor(answer))


class CharText(L.LightningDataModule):
    """Character-level language-modelling data: random training windows, fixed held-out windows.

    Args:
        text_file: a UTF-8 text file to model instead of the embedded Shakespeare.
        block_size: T, tokens per training window (at most the model's context n_ctx).
        batch_size: windows per batch.
        train_batches_per_epoch: batches in one "epoch"; validation runs after each.
        val_windows: fixed windows of the validation split scored after every epoch.
        test_windows: fixed windows of the test split scored once at the end (the claim).
        zeroshot_questions: word-order questions built from the test split and answered by
            likelihood after training (0 turns the zero-shot evaluation off; windows too short to
            hold a line of six words after some context give no questions).
        zeroshot_choices: candidates per question, the real word included (chance is 1 / choices).
        seed: fixes the training windows' order (and the shuffles of the zero-shot questions).
    """

    def __init__(self, text_file: str | None = None, block_size: int = 64, batch_size: int = 32,
                 train_batches_per_epoch: int = 100, val_windows: int = 256, test_windows: int = 1024,
                 zeroshot_questions: int = 500, zeroshot_choices: int = 10, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("block_size", block_size), ("batch_size", batch_size),
                            ("train_batches_per_epoch", train_batches_per_epoch), ("val_windows", val_windows),
                            ("test_windows", test_windows)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if zeroshot_questions < 0:
            raise ValueError(f"data.zeroshot_questions must be >= 0, got {zeroshot_questions}")
        if zeroshot_choices < 2:
            raise ValueError(f"data.zeroshot_choices must be >= 2, got {zeroshot_choices}")
        self.save_hyperparameters()
        text = load_text_file(text_file) if text_file else load_shakespeare()
        # The vocabulary is every character of the corpus (as nanoGPT's shakespeare_char does),
        # so a held-out character can never be unknown.
        self.tokenizer = CharTokenizer.fit(text)
        self._text = text
        self.splits: dict[str, Tensor] = {}
        self.zero_shot: MultipleChoice | None = None

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return  # fit and the final test share one encoding of the text
        ids = self.tokenizer.encode(self._text)  # [n_chars]
        n_train, n_val = int(0.9 * len(ids)), int(0.05 * len(ids))
        self.splits = {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}
        hp = self.hparams
        self.zero_shot = word_order_questions(self._text[n_train + n_val :], self.tokenizer, hp.zeroshot_questions,
                                              hp.zeroshot_choices, length=hp.block_size + 1, seed=hp.seed)

    def _windows(self, split: str) -> Windows:
        return Windows(self.splits[split], self.hparams.block_size)

    def train_dataloader(self) -> DataLoader:
        hp, data = self.hparams, self._windows("train")
        sampler = RandomStarts(len(data), hp.train_batches_per_epoch * hp.batch_size, seed=hp.seed)
        return ResumableDataLoader(data, batch_size=hp.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        data = self._windows("val")
        return DataLoader(data, batch_size=self.hparams.batch_size,
                          sampler=EvenlySpaced(len(data), self.hparams.val_windows))

    def test_dataloader(self) -> DataLoader:
        data = self._windows("test")
        return DataLoader(data, batch_size=self.hparams.batch_size,
                          sampler=EvenlySpaced(len(data), self.hparams.test_windows))

