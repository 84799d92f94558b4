"""The report's contamination check (Appendix C), scaled to this data.

Appendix C: evaluation and training text are normalised by dropping spaces and symbols (keeping letters
and digits); from each evaluation example three random 50-character substrings are drawn (the whole
example when it is shorter); the example counts as contaminated when any of them is a substring of a
normalised training example. Only the question is used, not the answer.

Our prompts are 5 or 6 normalised characters, the report's examples are hundreds, so the length scales
down: `substring_len` (default 6, so every prompt is matched whole). A shorter substring matches more
training text by chance (false positives); one as long as the prompt falls back to the whole prompt, an
exact-match test that misses near copies.
"""

from __future__ import annotations

import random


def normalise(text: str) -> str:
    """Keep letters and digits only (the report's "removing all spaces and symbols")."""
    return "".join(ch for ch in text if ch.isalnum())


def sample_substrings(text: str, length: int, n: int, rng: random.Random) -> list[str]:
    """`n` random substrings of `length` characters of the normalised `text`, or the whole text if shorter."""
    if length < 1 or n < 1:
        raise ValueError(f"substring length and count must be >= 1, got {length} and {n}")
    t = normalise(text)
    if len(t) <= length:
        return [t]
    return [t[s : s + length] for s in (rng.randrange(len(t) - length + 1) for _ in range(n))]


def flag_contaminated(prompts: list[str], train_lines: list[str], length: int = 6, n: int = 3,
                      seed: int = 0) -> list[bool]:
    """For every evaluation prompt: is any of its sampled substrings inside a normalised training line?

    Instead of searching every line for every substring, the training lines are cut once into all their
    substrings of each length that a query has (an index of sets), so each query is one set lookup. The
    answer is the same as `any(s in normalise(line) for line in train_lines)` (a test checks it)."""
    rng = random.Random(seed)
    queries = [sample_substrings(p, length, n, rng) for p in prompts]
    lines = {normalise(line) for line in train_lines}
    index: dict[int, set[str]] = {}
    for size in {len(s) for q in queries for s in q}:
        index[size] = {t[i : i + size] for t in lines for i in range(len(t) - size + 1)}
    return [any(s in index[len(s)] for s in q) for q in queries]


def detection_stats(flags: list[bool], leaked: set[int]) -> dict[str, float]:
    """Recall on the planted items and the false-positive rate on the rest."""
    planted = [flags[i] for i in sorted(leaked)]
    clean = [f for i, f in enumerate(flags) if i not in leaked]
    return {"recall": sum(planted) / len(planted) if planted else float("nan"),
            "false_positive_rate": sum(clean) / len(clean) if clean else float("nan"),
            "false_positives": float(sum(clean)), "flagged": float(sum(flags))}
