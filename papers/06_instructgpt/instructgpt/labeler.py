"""The labeler: a program standing in for the paper's human labelers (Section 3.4).

It is called in exactly two places: to rank the K responses of a prompt for the reward model's
comparisons (Section 3.5, "Reward modeling"), and to judge the final policies against each other
on held-out prompts (the win rate). The policy never sees it: during RL it sees only the reward model.

Its preferences, most important first (a lexicographic key, higher is better):
1. the answer is correct (the response starts with the right digits);
2. if not, more of the answer's digits are in the right place;
3. the response ends (emits end-of-text within the length limit);
4. it is concise: fewer tokens after the answer (a restated answer is repetition, and is worse).
"""

from __future__ import annotations

import torch
from torch import Tensor

from instructgpt.data import DIGIT0, EOS, PAD, answer, decode_prompt


def judge(prompt: list[int], response: list[int]) -> tuple[int, int, int, int]:
    """The labeler's key for one response to one prompt; compare keys as tuples."""
    task, digits = decode_prompt(prompt)
    ans = [DIGIT0 + d for d in answer(task, digits)]
    ended = EOS in response
    body = response[: response.index(EOS)] if ended else [t for t in response if t != PAD]
    correct = body[: len(ans)] == ans
    right_places = sum(a == b for a, b in zip(body, ans))
    extra = max(len(body) - len(ans), 0) + (len(ans) - min(len(body), len(ans)))  # too long or too short
    return int(correct), right_places, int(ended), -extra


def scores(prompts: Tensor, responses: Tensor) -> Tensor:
    """Rank numbers for a batch: equal keys get equal numbers, a better key a larger one. [batch]"""
    keys = [judge(p, r) for p, r in zip(prompts.tolist(), responses.tolist())]
    order = {k: i for i, k in enumerate(sorted(set(keys)))}
    return torch.tensor([order[k] for k in keys], dtype=torch.float32)


def rank(prompts: Tensor, responses: Tensor) -> Tensor:
    """Scores for K responses per prompt, comparable within each prompt. prompts [batch, P], responses [batch, K, R]."""
    b, k, _ = responses.shape
    return scores(prompts.repeat_interleave(k, 0), responses.flatten(0, 1)).view(b, k)


def compare(prompts: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """+1 where the labeler prefers response a, -1 where it prefers b, 0 for a tie. [batch]"""
    ka = [judge(p, r) for p, r in zip(prompts.tolist(), a.tolist())]
    kb = [judge(p, r) for p, r in zip(prompts.tolist(), b.tolist())]
    return torch.tensor([(x > y) - (x < y) for x, y in zip(ka, kb)], dtype=torch.float32)
