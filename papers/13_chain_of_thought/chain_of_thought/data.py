"""Generated multi-step arithmetic problems, written in two styles, and the training documents.

A problem is a start digit and k steps, each "+d" or "*d" with d in 1..3, everything modulo 10.
Every question is written at the same width: max_steps operation slots, the unused ones written
"..". With max_steps = 3 (the default):

    question          4+3*3+2?     (4, then +3, *3, +2)
    chain of thought  =7=1=3A3;    (the value after each step, then the answer)
    answer only       A3;
    a 2-step question 3+2*3..?     (one empty slot; chain =5=5A5;)
    free chain        =7=_=3A3;    (some intermediate values written, others skipped as "_")

The third style, the free chain, exists for self-consistency (Wang et al., 2022). A full chain leaves the
model one route to the answer, so sampling it and voting can add nothing. A free chain writes each
intermediate value or skips it, with probability 1/2 each, independently: 2^(k-1) routes for a k-step
problem, from the full chain to the answer alone. A skipped value costs the next written one a two-step
(or longer) jump, which the model gets wrong far more often; the routes that write every step agree on
the right answer, the shortcuts scatter. A skip keeps its two tokens ("=_"), so the look-up distance
below stays the same.

The fixed width puts the operation that step i needs exactly 2 * max_steps tokens behind the `=`
where the model writes step i's value, for every i and every k: a small model learns that fixed
look-up in a few hundred steps (finding the operation by its content, in free text, is what a large
model does and takes far longer to learn; see notes.md).

A training document is `n_shots + 1` problems in ONE style (chosen at random per document), so the
model learns to continue in the style its context shows: the situation of a few-shot prompt. A third of
the documents show chains of thought, a third answer only, a third free chains. The loss is taken on the
solutions (everything after each `?`, through the `;`), never on the questions, which are random.

The multi-step test problems (`n_test` per number of steps from 2 up) are held out: no training
document contains them, and neither do the fixed exemplars of the test prompts (see prompting.py).
One-step problems are the 60 facts that every step of every chain applies; training shows all of
them in both styles (a fact cannot be inferred from the others), and the test asks each of them,
exemplars excepted, to check that both styles know the facts that multi-step problems combine.
"""

from __future__ import annotations

import random

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

MAX_STEPS = 10
OPS = ("+", "*")  # add, multiply (mod 10): the order of the steps matters, 3*2+1 is not (3+1)*2
OPERANDS = (1, 2, 3)
VOCAB = ["<pad>", "<bos>", *"0123456789", "+", "*", "=", "?", "A", ";", ".", "_"]
PAD, BOS = 0, 1
STOI = {s: i for i, s in enumerate(VOCAB)}
IGNORE = -100  # cross_entropy's ignore_index: positions whose next token is not part of a solution
STYLES = ("cot", "direct", "free")
SHOW = 0.5  # a free chain writes each intermediate value with this probability (1/2: no route preferred)

Problem = tuple[int, tuple[tuple[str, int], ...]]  # (start digit, ((op, digit), ...))


def solve(problem: Problem) -> list[int]:
    """The running value after each step: [y_1, ..., y_k], y_i = (y_{i-1} op_i d_i) mod 10, y_0 = start."""
    y, values = problem[0], []
    for op, d in problem[1]:
        y = (y + d if op == "+" else y * d) % 10
        values.append(y)
    return values


def question(problem: Problem, max_steps: int) -> str:
    """The start digit, the k operations, max_steps - k empty slots "..", then "?"."""
    k = len(problem[1])
    if k > max_steps:
        raise ValueError(f"a {k}-step problem does not fit max_steps = {max_steps}")
    return str(problem[0]) + "".join(f"{op}{d}" for op, d in problem[1]) + ".." * (max_steps - k) + "?"


def solution(problem: Problem, style: str, shown: tuple[bool, ...] | None = None) -> str:
    """The text after the `?`: the chain of intermediate steps (style "cot"), the answer alone ("direct"), or a
    free chain ("free"), which writes intermediate value i when shown[i] and "_" in its place otherwise
    (shown: one flag per step but the last, whose value is always written)."""
    values = solve(problem)
    if style == "direct":
        return f"A{values[-1]};"
    if style == "cot":
        return "".join(f"={y}" for y in values) + f"A{values[-1]};"
    if style != "free":
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    if shown is None or len(shown) != len(values) - 1:
        raise ValueError(f"a free chain of {len(values)} steps needs {len(values) - 1} shown flags, got {shown!r}")
    return "".join(f"={y}" if show else "=_" for y, show in zip(values, shown)) + f"={values[-1]}A{values[-1]};"


def free_route(k: int, rng: random.Random) -> tuple[bool, ...]:
    """Which of a k-step problem's first k - 1 intermediate values a free chain writes: each with probability SHOW."""
    return tuple(rng.random() < SHOW for _ in range(k - 1))


def encode(text: str) -> list[int]:
    return [STOI[c] for c in text]


def decode(ids) -> str:
    return "".join(VOCAB[i] for i in ids if i not in (PAD, BOS))


def random_problem(k: int, rng: random.Random) -> Problem:
    return rng.randrange(10), tuple((rng.choice(OPS), rng.choice(OPERANDS)) for _ in range(k))


def n_problems(k: int) -> int:
    """How many different k-step problems exist: 10 start digits, then 6 operations a step."""
    return 10 * (len(OPS) * len(OPERANDS)) ** k


def n_held_out(k: int, n_test: int) -> int:
    """Held-out test problems with k steps: none at k = 1, else n_test, but never more than half of all k-step
    problems. One-step problems are the 60 facts every chain is built from: training shows all of them (a fact
    cannot be inferred from the other facts), and the test asks all of them but the exemplars."""
    return 0 if k == 1 else min(n_test, n_problems(k) // 2)


def all_problems(k: int) -> list[Problem]:
    """Every k-step problem, in a fixed order (10 * 6^k of them; meant for k = 1)."""
    steps = [()]
    for _ in range(k):
        steps = [s + ((op, d),) for s in steps for op in OPS for d in OPERANDS]
    return [(start, s) for start in range(10) for s in steps]


def distinct_problems(k: int, n: int, g: random.Random, exclude: set) -> list[Problem]:
    """n different k-step problems, none in `exclude` (there are 10 * 6^k in all)."""
    if n > n_problems(k) - sum(len(p[1]) == k for p in exclude):
        raise ValueError(f"data: cannot draw {n} distinct {k}-step problems (only {n_problems(k)} exist)")
    out: dict[Problem, None] = {}
    while len(out) < n:
        p = random_problem(k, g)
        if p not in exclude:
            out[p] = None
    return list(out)


def document(problems: list[Problem], style: str, max_steps: int,
             rng: random.Random | None = None) -> tuple[list[int], list[int]]:
    """One training document: <bos> q_1 s_1 q_2 s_2 ... -> (tokens, is_solution per token).
    A free chain's route is drawn from rng (free_route)."""
    if style == "free" and rng is None:
        raise ValueError("a document of free chains needs an rng to draw their routes")
    tokens, is_solution = [BOS], [False]
    for p in problems:
        shown = free_route(len(p[1]), rng) if style == "free" else None
        q, s = encode(question(p, max_steps)), encode(solution(p, style, shown))
        tokens += q + s
        is_solution += [False] * len(q) + [True] * len(s)
    return tokens, is_solution


def max_len(n_problems: int, max_steps: int) -> int:
    """Tokens of the longest document: <bos> + n chain-of-thought problems of max_steps steps each."""
    return 1 + n_problems * ((2 * max_steps + 2) + (2 * max_steps + 3))


def documents(n: int, n_problems: int, max_steps: int, g: random.Random, exclude: set) -> tuple[Tensor, Tensor]:
    """n documents, each n_problems problems of 1..max_steps steps in one random style.
    Returns inputs [n, T] and next-token targets [n, T] (IGNORE where the next token is not a solution's)."""
    T = max_len(n_problems, max_steps)
    rows, flags = [], []  # plain lists, one tensor at the end: a tensor per row costs seconds at 32,000 rows
    for _ in range(n):
        style, probs = g.choice(STYLES), []
        for k in (g.randint(1, max_steps) for _ in range(n_problems)):
            p = random_problem(k, g)
            while p in exclude:
                p = random_problem(k, g)
            probs.append(p)
        tokens, is_solution = document(probs, style, max_steps, g)
        rows.append(tokens + [PAD] * (T + 1 - len(tokens)))
        flags.append(is_solution + [False] * (T + 1 - len(tokens)))
    x = torch.tensor(rows, dtype=torch.long).reshape(n, T + 1)
    keep = torch.tensor(flags, dtype=torch.bool).reshape(n, T + 1)
    targets = torch.where(keep[:, 1:], x[:, 1:], torch.full_like(x[:, 1:], IGNORE))
    return x[:, :-1], targets


def problem_tensor(problems: list[Problem], max_steps: int) -> Tensor:
    """Problems as rows [k, start, op_1, d_1, ..., op_k, d_k, 0 ...] (op: 0 for +, 1 for *): [n, 2 + 2 max_steps]."""
    rows = torch.zeros(len(problems), 2 + 2 * max_steps, dtype=torch.long)
    for r, (start, ops) in enumerate(problems):
        rows[r, 0], rows[r, 1] = len(ops), start
        for i, (op, d) in enumerate(ops):
            rows[r, 2 + 2 * i], rows[r, 3 + 2 * i] = OPS.index(op), d
    return rows


def problem_from_row(row: Tensor) -> Problem:
    k, start, *rest = row.tolist()
    return start, tuple((OPS[rest[2 * i]], rest[2 * i + 1]) for i in range(k))


class Data(L.LightningDataModule):
    """Training documents in all three styles; held-out test problems for prompting.

    Args:
        max_steps: problems have 1 .. max_steps steps (2 to 10).
        n_shots: exemplars in a test prompt (at least 2); a training document holds n_shots + 1 problems.
        n_train: training documents; n_val: validation documents (held-out loss during training).
        n_test: held-out test problems per number of steps from 2 up (one step: all 60 facts but the exemplars).
        batch_size, seed: batches and the generator of every split.
        n_facts: test only the first n_facts one-step facts (null: all; a setting for tiny test runs).
    """

    def __init__(self, max_steps: int = 3, n_shots: int = 2, n_train: int = 48000, n_val: int = 256,
                 n_test: int = 150, batch_size: int = 32, seed: int = 0, n_facts: int | None = None) -> None:
        super().__init__()
        if not 1 <= max_steps <= MAX_STEPS:
            raise ValueError(f"data.max_steps must be in 1..{MAX_STEPS}, got {max_steps}")
        for name, value in (("n_shots", n_shots), ("n_train", n_train), ("n_val", n_val), ("n_test", n_test),
                            ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if max_steps < 2 or n_shots < 2:
            raise ValueError(f"data.max_steps and data.n_shots must be >= 2 (the free-chain prompt needs a multi-step "
                             f"exemplar with a skipped value), got {max_steps} and {n_shots}")
        if n_facts is not None and n_facts < 1:
            raise ValueError(f"data.n_facts must be >= 1 or null, got {n_facts}")
        self.save_hyperparameters()
        self.vocab_size = len(VOCAB)
        self.seq_len = max_len(n_shots + 1, max_steps)

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        hp = self.hparams
        g = random.Random(hp.seed)
        held = [p for k in range(1, hp.max_steps + 1) for p in distinct_problems(k, n_held_out(k, hp.n_test), g, set())]
        self.held_out = set(held)
        # The exemplars of every test prompt: fixed, like the paper's hand-written set, steps 1, 2, ... cycling;
        # in the free style each has one fixed route, drawn again until some value is skipped: free exemplars
        # without a skip would be the full-chain prompt.
        self.exemplars = [distinct_problems(1 + i % hp.max_steps, 1, g, self.held_out)[0] for i in range(hp.n_shots)]
        self.exemplar_routes = [()] * hp.n_shots  # no skip yet: the loop draws at least once
        while all(all(r) for r in self.exemplar_routes):
            self.exemplar_routes = [free_route(len(p[1]), g) for p in self.exemplars]
        # Tested: the one-step facts (trained on: every chain step is one of them) and the held-out multi-step problems.
        facts = [p for p in all_problems(1) if p not in self.exemplars]
        test = facts[:hp.n_facts] + held  # n_facts None: all of them
        self.test_set = TensorDataset(problem_tensor(test, hp.max_steps))
        self.val_set = TensorDataset(*documents(hp.n_val, hp.n_shots + 1, hp.max_steps, g, self.held_out))
        self.train_set = TensorDataset(*documents(hp.n_train, hp.n_shots + 1, hp.max_steps, g, self.held_out))

    def _loader(self, data, shuffle: bool) -> DataLoader:
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)

    def test_dataloader(self):
        return self._loader(self.test_set, False)
