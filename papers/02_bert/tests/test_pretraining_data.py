"""The pre-training data the paper specifies, checked statistically: 15% chosen, then 80/10/10;
next sentence prediction 50/50 with segment ids 0/1; and the derived word-order task.

Each statistical test uses a fixed seed and bounds of about five standard deviations, and checks
that the same counts would reject a wrong recipe (70/20/10, or 20% chosen): it can fail.
"""

import random

import pytest
from bert.data import CLS, IGNORE, MASK, PAD, SEP, SPECIALS, mask_tokens, sentence_pair, word_order_examples
from scipy.stats import chisquare

VOCAB = 5000  # large, so a "random" replacement almost never equals the original by chance
N_SPECIAL = len(SPECIALS)


def masked_counts(n_sequences=4000, seed=0):
    """Mask many sequences with specials and padding mixed in; count what happened to each token."""
    rng = random.Random(seed)
    counts = {"mask": 0, "random": 0, "same": 0}
    chosen = candidates = 0
    for _ in range(n_sequences):
        n_words = rng.randint(10, 60)
        words = [rng.randrange(N_SPECIAL, VOCAB) for _ in range(n_words)]
        half = rng.randint(1, n_words - 1)
        ids = [CLS, *words[:half], SEP, *words[half:], SEP] + [PAD] * rng.randint(0, 5)
        inputs, labels = mask_tokens(ids, rng, VOCAB)
        for orig, new, label in zip(ids, inputs, labels):
            if orig < N_SPECIAL:
                assert label == IGNORE and new == orig, "a special token or padding was chosen"
                continue
            candidates += 1
            if label == IGNORE:
                assert new == orig
                continue
            assert label == orig
            chosen += 1
            counts["mask" if new == MASK else "same" if new == orig else "random"] += 1
            assert new == MASK or new >= N_SPECIAL  # random replacements are words, never specials
    return counts, chosen, candidates


@pytest.fixture(scope="module")
def counts():
    return masked_counts()


def test_fifteen_percent_of_the_words_are_chosen(counts):
    _, chosen, candidates = counts
    frac = chosen / candidates
    assert abs(frac - 0.15) < 0.003, frac  # round(0.15 n) per sequence averages to 15%
    assert abs(frac - 0.20) > 0.04  # 20% would be far outside


def test_chosen_tokens_split_80_10_10(counts):
    c, chosen, _ = counts
    # A random word equals the original with probability 1 / (VOCAB - N_SPECIAL): counted as "same".
    p_coincide = 1 / (VOCAB - N_SPECIAL)
    expected = [0.8, 0.1 * (1 - p_coincide), 0.1 + 0.1 * p_coincide]
    observed = [c["mask"], c["random"], c["same"]]
    for got, p in zip(observed, expected):
        sd = (p * (1 - p) / chosen) ** 0.5
        assert abs(got / chosen - p) < 5 * sd, (observed, chosen)
    assert chisquare(observed, [p * chosen for p in expected]).pvalue > 1e-4
    # The same counts reject a 70/20/10 or 80/5/15 recipe outright: the test has power.
    for wrong in ([0.7, 0.2, 0.1], [0.8, 0.05, 0.15]):
        assert chisquare(observed, [p * chosen for p in wrong]).pvalue < 1e-12


def test_at_least_one_token_is_chosen_even_in_short_sequences():
    inputs, labels = mask_tokens([CLS, 7, 8, SEP], random.Random(0), VOCAB)
    assert sum(label != IGNORE for label in labels) == 1
    assert mask_tokens([CLS, SEP], random.Random(0), VOCAB)[1] == [IGNORE, IGNORE]


def numbered_lines(n_lines=2000, seed=0):
    """Lines of consecutive integers, so a continuation is recognisable: line k holds words a..b."""
    rng, lines, next_id = random.Random(seed), [], N_SPECIAL
    for _ in range(n_lines):
        n = rng.randint(3, 9)
        lines.append(list(range(next_id, next_id + n)))
        next_id += n
    return lines


def test_next_sentence_pairs_are_half_true_and_well_formed():
    lines, rng, max_len = numbered_lines(), random.Random(1), 32
    starts = {line[0] for line in lines}
    n, true_next = 4000, 0
    for _ in range(n):
        ids, segments, is_next = sentence_pair(lines, rng, max_len)
        assert len(ids) <= max_len and len(segments) == len(ids)
        assert ids[0] == CLS and ids[-1] == SEP and ids.count(SEP) == 2
        sep = ids.index(SEP)
        a, b = ids[1:sep], ids[sep + 1 : -1]
        assert a and b
        assert segments == [0] * (sep + 1) + [1] * (len(b) + 1)  # [CLS] A [SEP] is 0, B [SEP] is 1
        assert a == list(range(a[0], a[0] + len(a)))  # A is contiguous text
        assert b[0] in starts  # B starts at a line boundary
        if is_next:
            true_next += 1
            assert 0 < b[0] - a[-1] <= 9  # B starts at the line after A's last line
        else:
            assert abs(b[0] - a[0]) > 40 * 3  # far away: at least 50 lines of >= 3 words
    sd = (0.25 / n) ** 0.5
    assert abs(true_next / n - 0.5) < 5 * sd, true_next


def test_word_order_task_is_balanced_and_keeps_the_words():
    lines = numbered_lines(3000)
    examples = word_order_examples(lines, 600, seed=0)
    labels = [label for _, label in examples]
    assert labels.count(1) == labels.count(0) == 300
    for ids, label in examples:
        words = ids[1:-1]
        assert ids[0] == CLS and ids[-1] == SEP and 6 <= len(words) <= 14
        ordered = words == sorted(words)  # numbered lines: the original order is ascending
        assert ordered == (label == 1)


def test_word_order_task_needs_enough_lines():
    with pytest.raises(ValueError, match="held-out lines"):
        word_order_examples(numbered_lines(10), 600, seed=0)
