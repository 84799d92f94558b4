"""The evaluation harness: run a model on the capability suites, grade its answers, put bootstrap
confidence intervals on the scores, and measure calibration on the multiple-choice suite.

In the spirit of the report's Section 4 (it evaluates GPT-4 on exams and benchmarks), at toy scale:
generated suites, two graders (exact match and a rule), a percentile bootstrap from scipy, and the
expected calibration error of multiple-choice answers.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.stats import bootstrap
from torch import Tensor, nn

from gpt4_analysis.data import BOS, EOS, OPTIONS, STOI, Item, decode, encode

MAX_ANSWER = 6  # the longest answer (5 sorted digits) plus <eos>


def grade_exact(item: Item, answer: str) -> bool:
    """Exact match against the reference answer."""
    return answer == item.answer


def grade_even(item: Item, answer: str) -> bool:
    """The rule for `even`: one digit, even, and present in the prompt's list (any of them is right)."""
    digits = item.prompt[2:-1]
    return len(answer) == 1 and answer.isdigit() and int(answer) % 2 == 0 and answer in digits


GRADERS = {"even": grade_even}  # every other suite: exact match


def grade(item: Item, answer: str) -> bool:
    return GRADERS.get(item.suite, grade_exact)(item, answer)


@torch.no_grad()
def greedy_answers(model: nn.Module, prompts: list[str]) -> list[str]:
    """Greedy decoding after each prompt, up to <eos> or MAX_ANSWER tokens. Prompts of one length go in
    one batch (every suite's prompts have a fixed length), so no padding is needed. Decoding also stops
    when the sequence fills the model's context."""
    out: dict[int, str] = {}
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    for idx in by_len.values():
        x = torch.tensor([[BOS, *encode(prompts[i])] for i in idx])  # [n, 1 + prompt]
        start = x.shape[1]
        for _ in range(MAX_ANSWER):
            if x.shape[1] > model.cfg.n_ctx:  # an untrained model may never write <eos>: stop at the context
                break
            nxt = model(x)[:, -1].argmax(-1, keepdim=True)  # [n, 1]
            x = torch.cat([x, nxt], dim=1)
            if (x[:, start:] == EOS).any(dim=1).all():
                break
        for row, i in enumerate(idx):
            out[i] = decode(x[row, start:].tolist())
    return [out[i] for i in range(len(prompts))]


@torch.no_grad()
def option_probabilities(model: nn.Module, prompts: list[str]) -> Tensor:
    """P(option | prompt) for A-D, renormalised over the four letters: [n, 4]."""
    x = torch.tensor([[BOS, *encode(p)] for p in prompts])  # one length: the `choice` prompts
    logits = model(x)[:, -1]  # [n, vocab]
    letters = [STOI[o] for o in OPTIONS]
    return logits[:, letters].softmax(-1)  # [n, 4]


def bootstrap_ci(scores, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of 0/1 scores (scipy.stats.bootstrap). With every score
    equal the interval is that value (scipy warns that the data are degenerate; we know)."""
    s = np.asarray(scores, dtype=float)
    if s.size == 0:
        return float("nan"), float("nan")
    if np.all(s == s[0]):
        return float(s[0]), float(s[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap((s,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                        vectorized=True, random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> tuple[float, list[dict]]:
    """ECE = Σ_b (n_b / n) |acc_b - conf_b| over equal-width confidence bins; also the bins themselves
    (for the calibration plot). A confidence of exactly 1 goes into the last bin."""
    conf = np.asarray(confidence, dtype=float)
    corr = np.asarray(correct, dtype=float)
    if conf.shape != corr.shape or conf.size == 0:
        raise ValueError(f"confidence and correct must be non-empty and of one shape, got {conf.shape}, {corr.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    which = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece, bins = 0.0, []
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            acc, cf = float(corr[mask].mean()), float(conf[mask].mean())
            ece += mask.mean() * abs(acc - cf)
            bins.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": int(mask.sum()), "accuracy": acc,
                         "confidence": cf})
    return float(ece), bins
