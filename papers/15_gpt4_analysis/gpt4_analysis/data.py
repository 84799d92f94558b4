"""The data: six capability suites of generated tasks, a small made-up language (the text whose held-out
loss the scaling law predicts), a pre-training corpus made of both, and a copy of that corpus with known
evaluation items planted in it (the contamination experiment).

Every task line is one task instance, "prompt" followed by "answer", for example `a 47+85=132`. The
model is pre-trained on whole lines (prompt and answer), like a language model on documents; the
evaluation harness shows it a prompt and grades what it writes next.

| suite   | prompt          | answer | what it takes                         | grader     |
|---------|-----------------|--------|---------------------------------------|------------|
| copy    | `c kqzt=`       | kqzt   | copy four letters                     | exact      |
| reverse | `r kqzt=`       | tzqk   | reverse four letters                  | exact      |
| sort    | `s 38152=`      | 12358  | sort five digits                      | exact      |
| add     | `a 47+85=`      | 132    | add two 2-digit numbers               | exact      |
| choice  | `m 4 8 1 6=`    | B      | pick one of A-D; the key favours large digits (multiple choice) | exact |
| even    | `e 38152=`      | 8      | any even digit of the list            | rule-based |

`even` has several right answers (the corpus shows a random one), so exact match against one reference
undercounts it; a rule checks the answer instead. `choice` has four options, like an MMLU question, and
an answer key that is itself uncertain: option i is the answer with probability e^(d_i) / Σ_j e^(d_j)
(d_i its digit), so on `m 4 8 1 6=` the key says B 87% of the time. The best possible model is then
sure of some answers and unsure of others, and its probability of each letter is exactly how often that
letter is right: what the calibration plot checks.

Text lines are `t ` and three words of a fixed lexicon, for example `t qad vorm ukz`: `lexicon_size`
random words of 3 or 4 letters, drawn by a Zipf law (the word of rank k with probability ∝ k^-zipf). A
model learns the frequent words first and the rare ones later, thousands of small steps, so the loss on
held-out text falls smoothly with scale. The tasks do not: a model learns to copy all at once, at a step
that differs from run to run, which made the loss of a task-only corpus a staircase (notes, section 9).

The evaluation items are drawn first; the clean corpus is then drawn with every line whose prompt is an
evaluation (or calibration) prompt thrown away, so nothing leaks by chance. The training copy is the
clean corpus plus `leak_copies` copies of a `leak_fraction` of the evaluation items (prompt and answer):
the ground truth the contamination check must recover.
"""

from __future__ import annotations

import math
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
N_CTX = 18  # <bos> + the longest line (16 characters: a text line of three 4-letter words) + <eos>
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


def choice_distribution(prompt: str) -> list[float]:
    """The answer key of a `choice` prompt `m d1 d2 d3 d4=`: P(option i) = e^(d_i) / Σ_j e^(d_j)."""
    weights = [math.exp(int(d)) for d in prompt[2:-1].split()]
    return [w / sum(weights) for w in weights]


def _choice(rng: random.Random) -> Item:
    prompt = "m " + " ".join(str(rng.randrange(10)) for _ in range(4)) + "="  # four digits, options A-D
    return Item("choice", prompt, rng.choices(OPTIONS, weights=choice_distribution(prompt))[0])


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


def _distinct(make, n: int, rng: random.Random, seen: set[str]) -> list[Item]:
    """`n` items from `make` whose prompts are all different and none in `seen` (which grows with them)."""
    items: list[Item] = []
    while len(items) < n:
        item = make(rng)
        if item.prompt not in seen:
            seen.add(item.prompt)
            items.append(item)
    return items


def eval_items(n_per_suite: int, seed: int) -> list[Item]:
    """`n_per_suite` items of every suite with distinct prompts, suite by suite."""
    rng = random.Random(seed)
    return [item for make in SUITES.values() for item in _distinct(make, n_per_suite, rng, set())]


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


def calibration_items(n: int, seed: int, exclude: set[str]) -> list[Item]:
    """`n` `choice` items with distinct prompts, none in `exclude`: the calibration set (never trained on)."""
    return _distinct(_choice, n, random.Random(seed), set(exclude))


TEXT_TAG = "t "  # a text line starts with it; no task prompt does
WORDS_PER_LINE = 3


def make_lexicon(size: int, seed: int) -> list[str]:
    """`size` distinct random words of 3 or 4 letters, in rank order (the first is the most frequent)."""
    rng = random.Random(seed)
    words: dict[str, None] = {}  # a dict keeps the first-drawn order and drops repeats
    while len(words) < size:
        words.setdefault("".join(rng.choice(LETTERS) for _ in range(rng.choice((3, 4)))), None)
    return list(words)


def zipf_weights(size: int, exponent: float) -> list[float]:
    """P(rank k) = k^-exponent / Σ_j j^-exponent for k = 1 ... size."""
    weights = [k ** -exponent for k in range(1, size + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def text_lines(n: int, lexicon: list[str], weights: list[float], seed: int) -> list[str]:
    """`n` lines `t w1 w2 w3` of words drawn independently with probabilities `weights`."""
    rng = random.Random(seed)
    words = rng.choices(lexicon, weights=weights, k=n * WORDS_PER_LINE)
    return [TEXT_TAG + " ".join(words[i : i + WORDS_PER_LINE]) for i in range(0, len(words), WORDS_PER_LINE)]


def text_irreducible_loss(lexicon: list[str], weights: list[float]) -> float:
    """The loss no model can beat on held-out text, in nats per predicted token after the tag `t `: each
    word carries H(word) = -Σ p_k ln p_k nats and takes its letters plus one token (the space after it, or
    <eos> after the last word), so the floor is H(word) / (E[letters] + 1). Spaces and <eos> add tokens
    but no entropy: the words are a prefix-free code once a space follows them."""
    entropy = -sum(p * math.log(p) for p in weights if p > 0)
    return entropy / (sum(p * len(w) for p, w in zip(weights, lexicon)) + 1)


class Data(L.LightningDataModule):
    """The training copy (clean corpus + planted leaks), held-out text for the loss, the suites and the
    calibration set.

    Args:
        n_train_per_suite: clean training lines per suite.
        n_text: training lines of text (the made-up language).
        n_val_text: held-out text lines: the loss that the scaling law predicts.
        n_eval_per_suite: evaluation items per suite (the capability suites).
        n_calibration: `choice` items for the calibration plot, apart from the evaluation items.
        lexicon_size: words in the language. zipf: the exponent of its word frequencies.
        leak_fraction: the fraction of every suite's evaluation items planted in the training copy.
        leak_copies: how many times each planted item is written into it.
        batch_size: lines per training step.
        seed: the seed of the evaluation items, the corpus, the leaks and the training order.
    """

    def __init__(self, n_train_per_suite: int = 3000, n_text: int = 24000, n_val_text: int = 2000,
                 n_eval_per_suite: int = 300, n_calibration: int = 2000, lexicon_size: int = 500,
                 zipf: float = 1.0, leak_fraction: float = 0.1, leak_copies: int = 4, batch_size: int = 64,
                 seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_train_per_suite", n_train_per_suite), ("n_text", n_text),
                            ("n_val_text", n_val_text), ("n_eval_per_suite", n_eval_per_suite),
                            ("n_calibration", n_calibration), ("lexicon_size", lexicon_size),
                            ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if n_eval_per_suite + n_calibration > 5000:  # `choice` has 10,000 prompts; leave half to train on
            raise ValueError(f"data.n_eval_per_suite + data.n_calibration must be <= 5000, got "
                             f"{n_eval_per_suite + n_calibration}")
        if lexicon_size > 100_000:
            raise ValueError(f"data.lexicon_size must be <= 100000, got {lexicon_size}")
        if zipf <= 0:
            raise ValueError(f"data.zipf must be > 0, got {zipf}")
        if not 0 <= leak_fraction <= 1:
            raise ValueError(f"data.leak_fraction must be in [0, 1], got {leak_fraction}")
        if leak_copies < 1:
            raise ValueError(f"data.leak_copies must be >= 1, got {leak_copies}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.items = eval_items(hp.n_eval_per_suite, hp.seed)
        prompts = {it.prompt for it in self.items}
        self.calibration = calibration_items(hp.n_calibration, hp.seed + 4, prompts)
        never = prompts | {it.prompt for it in self.calibration}  # prompts no training line may have
        self.lexicon = make_lexicon(hp.lexicon_size, hp.seed + 5)
        self.word_probs = zipf_weights(hp.lexicon_size, hp.zipf)
        self.clean = (clean_corpus(hp.n_train_per_suite, hp.seed + 1, never)
                      + text_lines(hp.n_text, self.lexicon, self.word_probs, hp.seed + 6))
        self.train_lines, self.leaked = plant_leaks(self.clean, self.items, hp.leak_fraction, hp.leak_copies,
                                                    hp.seed + 2)
        # held-out text: fresh draws of the same language (a common line may also occur in training, as
        # a common sentence would; the words are independent, so there is nothing else to memorise)
        self.val_lines = text_lines(hp.n_val_text, self.lexicon, self.word_probs, hp.seed + 3)
        self.train_set = TensorDataset(encode_lines(self.train_lines))
        self.val_set = TensorDataset(encode_lines(self.val_lines))

    def text_floor(self) -> float:
        """The irreducible loss of the held-out text (after `setup`)."""
        return text_irreducible_loss(self.lexicon, self.word_probs)

    def _loader(self, data, shuffle: bool):
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)

    def test_dataloader(self):
        return self._loader(self.val_set, False)
