"""Few-shot prompting in either style, answer extraction, and self-consistency.

The paper's method is all here and none of it trains anything: the same weights are given a prompt
of exemplars (question, then either a chain of intermediate steps and the answer, or the answer
alone; Section 2 and Figure 1 of Wei et al., 2022) followed by a new question, and the answer is
read out of whatever the model writes. Self-consistency (Wang et al., 2022, arXiv 2203.11171)
samples several chains at a temperature and keeps the most frequent final answer; it is run on the
free-chain prompt, whose exemplars write some intermediate values and skip others (data.py), so that the
sampled chains can take different routes.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import Tensor

from chain_of_thought.data import BOS, STOI, VOCAB, Problem, encode, question, solution

STOP = STOI[";"]


def few_shot_prompt(exemplars: list[Problem], query: Problem, style: str, max_steps: int,
                    routes: list[tuple[bool, ...]] | None = None) -> list[int]:
    """<bos> q_1 s_1 ... q_n s_n q: the exemplars with their solutions in `style`, then the new question.
    routes: the free-chain route of each exemplar (needed for style "free", see data.solution)."""
    if style == "free" and (routes is None or len(routes) != len(exemplars)):
        raise ValueError(f"a free-chain prompt needs one route per exemplar, got {routes!r}")
    shown = routes if style == "free" else [None] * len(exemplars)
    text = "".join(question(p, max_steps) + solution(p, style, r) for p, r in zip(exemplars, shown))
    text += question(query, max_steps)
    return [BOS, *encode(text)]


def solution_text(generated: list[int]) -> str:
    """The generated tokens as text, up to (not including) the first `;`: the one solution the model wrote."""
    return "".join(VOCAB[i] for i in generated).split(";")[0]


def extract_answer(generated: list[int]) -> int | None:
    """The final answer in the generated text: the digit after the last `A` before the first `;`.
    None when the text has no such digit (a malformed continuation counts as wrong)."""
    text = solution_text(generated)
    pos = text.rfind("A")
    if pos < 0 or pos + 1 >= len(text) or not text[pos + 1].isdigit():
        return None
    return int(text[pos + 1])


def majority_vote(answers: list[int | None]) -> int | None:
    """Self-consistency's aggregation: the most frequent answer among the sampled chains (malformed ones
    dropped); a tie goes to the answer sampled first."""
    counts = Counter(a for a in answers if a is not None)
    return counts.most_common(1)[0][0] if counts else None


def first_token_style(generated: list[int]) -> str:
    """Which style the model chose: a chain (full or free) starts with `=`, a bare answer with `A`."""
    return "direct" if generated and VOCAB[generated[0]] == "A" else "cot"


def skipped_fraction(generated: list[int], k: int) -> float:
    """The share of a k-step problem's k - 1 intermediate values that a generated chain skipped ("=_"): 0 for a
    full chain, 1 for a chain that jumps straight to the last value, 0 when k = 1 (nothing to skip)."""
    if k < 2:
        return 0.0
    values = solution_text(generated).split("A")[0].split("=")[1:k]  # the first k - 1 values written, if that many were
    return sum(v == "_" for v in values) / (k - 1)


def max_new_tokens(k: int, style: str) -> int:
    """Room for the solution of a k-step problem in `style` (2 tokens a step, then `A`, digit, `;`), plus 2."""
    return (0 if style == "direct" else 2 * k) + 3 + 2


def prompt_and_answer(model, exemplars: list[Problem], queries: list[Problem], style: str, max_steps: int,
                      temperature: float = 0.0, n_samples: int = 1, generator: torch.Generator | None = None,
                      routes: list[tuple[bool, ...]] | None = None
                      ) -> tuple[list[list[int | None]], list[str], list[list[float]]]:
    """Prompt `model` with the exemplars in `style` and each query (all queries with the same number of steps,
    so every prompt has the same length), n_samples continuations each.
    Returns the extracted answers [len(queries)][n_samples], the style of the first continuation of each query,
    and the share of intermediate values each continuation skipped [len(queries)][n_samples] (skipped_fraction)."""
    k = {len(q[1]) for q in queries}
    if len(k) != 1:
        raise ValueError(f"queries must all have the same number of steps, got {sorted(k)}")
    prompts = torch.tensor([few_shot_prompt(exemplars, q, style, max_steps, routes) for q in queries])  # [n, t]
    device = next(model.parameters()).device
    prompts = prompts.to(device).repeat_interleave(n_samples, dim=0)  # [n * n_samples, t]
    steps = k.pop()
    out = model.generate(prompts, max_new_tokens(steps, style), temperature, STOP, generator).cpu()
    texts: list[list[int]] = out.tolist()
    answers = [[extract_answer(texts[i * n_samples + j]) for j in range(n_samples)] for i in range(len(queries))]
    styles = [first_token_style(texts[i * n_samples]) for i in range(len(queries))]
    skipped = [[skipped_fraction(texts[i * n_samples + j], steps) for j in range(n_samples)]
               for i in range(len(queries))]
    return answers, styles, skipped


def answer_of(problem: Problem) -> int:
    return int(solution(problem, "direct")[1])


def hits(answers: list[int | None], problems: list[Problem]) -> Tensor:
    return torch.tensor([a == answer_of(p) for a, p in zip(answers, problems)], dtype=torch.float32)
