"""The generated suites and corpora: answers are right, lines fit the context, no evaluation prompt is in
the clean corpus by chance, and the planted copy holds exactly the planted items."""

import pytest
from gpt4_analysis.data import N_CTX, SUITES, Data, clean_corpus, decode, encode, encode_lines, eval_items, plant_leaks
from gpt4_analysis.harness import grade


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


def test_clean_corpus_holds_no_evaluation_prompt_and_the_copy_holds_the_plants():
    dm = Data(n_train_per_suite=300, n_val_per_suite=20, n_eval_per_suite=40, leak_fraction=0.25, leak_copies=3)
    dm.setup()
    prompts = {it.prompt for it in dm.items}
    assert not any(line[: line.index("=") + 1] in prompts for line in dm.clean)
    assert len(dm.leaked) == 6 * 10
    extra = dm.train_lines[len(dm.clean):]
    assert sorted(extra) == sorted(dm.items[i].line for i in dm.leaked for _ in range(3))
    assert not set(dm.val_lines) & set(dm.train_lines)


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
