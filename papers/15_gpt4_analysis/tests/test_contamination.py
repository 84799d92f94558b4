"""The report's substring check (Appendix C): normalisation, sampling, the index equals a plain search,
every planted item is found, and shorter substrings raise the false positives."""

import random

from gpt4_analysis.contamination import detection_stats, flag_contaminated, normalise, sample_substrings
from gpt4_analysis.data import clean_corpus, eval_items, plant_leaks


def test_normalise_keeps_only_letters_and_digits():
    assert normalise("m 47 85 12 66=B") == "m47851266B"
    assert normalise("a 07+85=92") == "a078592"


def test_short_text_is_used_whole_and_long_text_is_sampled():
    rng = random.Random(0)
    assert sample_substrings("c kqzt=", 6, 3, rng) == ["ckqzt"]
    subs = sample_substrings("m 47 85 12 66=", 6, 3, rng)
    assert len(subs) == 3 and all(len(s) == 6 and s in "m47851266" for s in subs)


def test_index_gives_the_same_flags_as_a_plain_substring_search():
    items = eval_items(40, seed=3)
    prompts = [it.prompt for it in items]
    lines, _ = plant_leaks(clean_corpus(200, 4, set(prompts)), items, 0.1, 2, seed=5)
    for length in (3, 5, 6, 8):
        flags = flag_contaminated(prompts, lines, length, 3, seed=7)
        rng = random.Random(7)
        norm = [normalise(line) for line in lines]
        plain = [any(any(s in t for t in norm) for s in sample_substrings(p, length, 3, rng)) for p in prompts]
        assert flags == plain


def test_every_planted_item_is_found_and_clean_items_rarely_are():
    items = eval_items(100, seed=0)
    prompts = [it.prompt for it in items]
    lines, leaked = plant_leaks(clean_corpus(1000, 1, set(prompts)), items, 0.1, 1, seed=2)
    stats = detection_stats(flag_contaminated(prompts, lines, 6, 3), leaked)
    assert len(leaked) == 60 and stats["recall"] == 1.0
    assert stats["false_positive_rate"] < 0.05
    # With 4-character substrings a digit pattern from a clean prompt turns up somewhere far more often.
    short = detection_stats(flag_contaminated(prompts, lines, 4, 3), leaked)
    assert short["recall"] == 1.0 and short["false_positive_rate"] > 5 * stats["false_positive_rate"]


def test_a_check_that_ignores_the_plants_would_fail():
    items = eval_items(20, seed=0)
    prompts = [it.prompt for it in items]
    clean = clean_corpus(200, 1, set(prompts))
    _, leaked = plant_leaks(clean, items, 0.2, 1, seed=2)
    stats = detection_stats(flag_contaminated(prompts, clean, 8, 3), leaked)  # searched in the CLEAN corpus
    assert stats["recall"] == 0.0
