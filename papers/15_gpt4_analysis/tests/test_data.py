"""The generated suites and corpora: answers are right, lines fit the context, no evaluation prompt is in
the clean corpus by chance, and the planted copy holds exactly the planted items."""

import itertools
import math
import random

import pytest
from gpt4_analysis.data import (
    N_CTX,
    OPTIONS,
    PAD,
    SUITES,
    TEXT_TAG,
    WORDS_PER_LINE,
    Data,
    choice_distribution,
    clean_corpus,
    decode,
    encode,
    encode_lines,
    eval_items,
    make_lexicon,
    plant_leaks,
    text_irreducible_loss,
    text_lines,
    zipf_weights,
)
from gpt4_analysis.harness import grade
from gpt4_analysis.lightning import text_targets


def test_every_reference_answer_passes_its_grader_and_fits_the_context():
    for it in eval_items(50, seed=0):
        assert grade(it, it.answer), it
        assert len(it.line) + 2 <= N_CTX
    items = {it.suite: it for it in eval_items(1, seed=0)}
    assert set(items) == set(SUITES)
    a = items["add"].prompt
    assert int(items["add"].answer) == int(a[2:4]) + int(a[5:7])
    assert items["sort"].answer == "".join(sorted(items["sort"].prompt[2:7]))


def test_encoding_round_trips_and_pads():
    x = encode_lines(["a 47+85=132"])
    assert x.shape == (1, N_CTX) and decode(x[0].tolist()) == "a 47+85=132"
    assert decode(encode("r kqzt=tzqk")) == "r kqzt=tzqk"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode("a 4?")


def test_clean_corpus_holds_no_evaluation_or_calibration_prompt_and_the_copy_holds_the_plants():
    dm = Data(n_train_per_suite=300, n_text=500, n_val_text=50, n_eval_per_suite=40, n_calibration=200,
              lexicon_size=100, leak_fraction=0.25, leak_copies=3)
    dm.setup()
    never = {it.prompt for it in dm.items} | {it.prompt for it in dm.calibration}
    assert len(never) == 6 * 40 + 200  # distinct: no calibration prompt is an evaluation prompt
    tasks = [line for line in dm.clean if not line.startswith(TEXT_TAG)]
    assert len(tasks) == 6 * 300 and len(dm.clean) == 6 * 300 + 500
    assert not any(line[: line.index("=") + 1] in never for line in tasks)
    assert len(dm.leaked) == 6 * 10
    extra = dm.train_lines[len(dm.clean):]
    assert sorted(extra) == sorted(dm.items[i].line for i in dm.leaked for _ in range(3))
    assert len(dm.val_lines) == 50 and all(line.startswith(TEXT_TAG) for line in dm.val_lines)
    assert all(len(line) + 2 <= N_CTX for line in dm.train_lines + dm.val_lines)
    assert all(it.suite == "choice" for it in dm.calibration)


def test_choice_answer_key_favours_large_digits_and_draws_by_it():
    probs = choice_distribution("m 4 8 1 6=")
    assert sum(probs) == pytest.approx(1.0) and probs.index(max(probs)) == 1
    assert probs[1] == pytest.approx(math.exp(8) / (math.exp(4) + math.exp(8) + math.exp(1) + math.exp(6)))
    assert choice_distribution("m 3 3 3 3=") == pytest.approx([0.25] * 4)
    # the drawn answers follow the key: over 4,000 draws of `m 4 8 1 6=` B comes up 86.6% of the time
    rng = random.Random(0)
    draws = [rng.choices(OPTIONS, weights=probs)[0] for _ in range(4000)]
    assert abs(draws.count("B") / 4000 - probs[1]) < 0.02
    items = eval_items(200, seed=1)
    choice = [it for it in items if it.suite == "choice"]
    best = [it.answer == OPTIONS[max(range(4), key=choice_distribution(it.prompt).__getitem__)] for it in choice]
    assert 0.5 < sum(best) / len(best) < 0.95  # usually the largest digit, not always


def test_text_floor_is_the_entropy_per_scored_token():
    # Three words, one a prefix of another: enumerate all 27 lines and their probabilities, and check that
    # H(line) / E[scored tokens] (the tokens text_targets keeps) equals H(word) / (E[letters] + 1).
    lexicon, probs = ["abc", "abcd", "xyz"], [0.5, 0.3, 0.2]
    h_lines = tokens = 0.0
    for words in itertools.product(range(3), repeat=WORDS_PER_LINE):
        p = math.prod(probs[w] for w in words)
        seq = encode_lines([TEXT_TAG + " ".join(lexicon[w] for w in words)])
        h_lines -= p * math.log(p)
        tokens += p * int((text_targets(seq) != PAD).sum())
    assert text_irreducible_loss(lexicon, probs) == pytest.approx(h_lines / tokens)
    assert text_irreducible_loss(lexicon, probs) == pytest.approx(
        -sum(p * math.log(p) for p in probs) / (0.5 * 3 + 0.3 * 4 + 0.2 * 3 + 1))


def test_text_lines_follow_the_zipf_law():
    lexicon, probs = make_lexicon(50, seed=0), zipf_weights(50, 1.2)
    assert len(set(lexicon)) == 50 and all(len(w) in (3, 4) for w in lexicon)
    assert probs[0] / probs[1] == pytest.approx(2 ** 1.2) and sum(probs) == pytest.approx(1.0)
    words = [w for line in text_lines(3000, lexicon, probs, seed=1) for w in line[len(TEXT_TAG):].split(" ")]
    assert len(words) == 9000
    assert abs(words.count(lexicon[0]) / 9000 - probs[0]) < 0.015


def test_plant_leaks_leaves_the_clean_corpus_alone():
    items = eval_items(10, seed=0)
    clean = clean_corpus(20, 1, {it.prompt for it in items})
    before = list(clean)
    plant_leaks(clean, items, 0.5, 2, seed=0)
    assert clean == before


def test_bad_data_settings_are_clear_errors():
    with pytest.raises(ValueError, match="leak_fraction"):
        Data(leak_fraction=1.5)
    with pytest.raises(ValueError, match="n_eval_per_suite"):
        Data(n_eval_per_suite=0)
    with pytest.raises(ValueError, match="n_calibration"):
        Data(n_calibration=4800)
    with pytest.raises(ValueError, match="zipf"):
        Data(zipf=-1.0)
