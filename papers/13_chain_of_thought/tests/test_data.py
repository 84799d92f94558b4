"""The generated problems, the three writing styles, the training documents and the held-out split; the prompts,
answer extraction and the majority vote of self-consistency."""

import random

import pytest
import torch
from chain_of_thought.data import (
    IGNORE,
    VOCAB,
    Data,
    decode,
    document,
    documents,
    encode,
    free_route,
    max_len,
    n_held_out,
    problem_from_row,
    problem_tensor,
    question,
    random_problem,
    solution,
    solve,
)
from chain_of_thought.prompting import (
    extract_answer,
    few_shot_prompt,
    first_token_style,
    majority_vote,
    prompt_and_answer,
    skipped_fraction,
)

EXAMPLE = (4, (("+", 3), ("*", 3), ("+", 2)))


def test_both_styles_of_the_worked_example():
    assert solve(EXAMPLE) == [7, 1, 3]  # 4+3 = 7, 7*3 = 21 -> 1, 1+2 = 3 (mod 10)
    assert solve((4, (("*", 3), ("+", 3), ("+", 2)))) == [2, 5, 7]  # the same operations in another order
    assert question(EXAMPLE, 5) == "4+3*3+2....?"
    assert question(EXAMPLE, 3) == "4+3*3+2?"
    assert solution(EXAMPLE, "cot") == "=7=1=3A3;"
    assert solution(EXAMPLE, "direct") == "A3;"
    # Free chains: each intermediate value written or skipped ("_"), the last always written.
    assert solution(EXAMPLE, "free", (True, False)) == "=7=_=3A3;"
    assert solution(EXAMPLE, "free", (False, False)) == "=_=_=3A3;"
    assert solution(EXAMPLE, "free", (True, True)) == solution(EXAMPLE, "cot")
    assert solution((4, (("+", 3),)), "free", ()) == "=7A7;"  # one step: the only route is the full chain
    with pytest.raises(ValueError, match="needs 2 shown flags"):
        solution(EXAMPLE, "free")
    with pytest.raises(ValueError, match="needs 2 shown flags"):
        solution(EXAMPLE, "free", (True,))
    with pytest.raises(ValueError, match="style must be one of"):
        solution(EXAMPLE, "scratchpad")
    with pytest.raises(ValueError, match="does not fit max_steps"):
        question(EXAMPLE, 2)


def test_the_operation_of_every_step_sits_2_max_steps_tokens_behind_its_equals_sign():
    for k in range(1, 6):
        problem = random_problem(k, random.Random(k))
        tokens, _ = document([problem], "cot", 5)
        text = decode(tokens)
        equals = [i for i, c in enumerate(text) if c == "="]
        assert len(equals) == k
        for i, pos in enumerate(equals):  # the digit of step i is 2 * 5 tokens back, its sign one more
            assert text[pos - 10] == str(problem[1][i][1]) and text[pos - 11] == problem[1][i][0]


def test_document_targets_are_the_solutions_only():
    tokens, is_solution = document([EXAMPLE], "cot", 4)
    assert decode(tokens) == "4+3*3+2..?=7=1=3A3;"
    assert "".join(VOCAB[t] for t, s in zip(tokens, is_solution) if s) == "=7=1=3A3;"
    g = random.Random(0)
    x, y = documents(8, 3, 4, g, set())
    assert x.shape == y.shape == (8, max_len(3, 4))
    shifted = x[:, 1:]
    kept = y[:, :-1] != IGNORE
    assert torch.equal(y[:, :-1][kept], shifted[kept])  # a kept target is the next token
    for row in range(8):  # the targets of a row, read in order, are its solutions: each ends with ";"
        text = "".join(VOCAB[t] for t in y[row].tolist() if t != IGNORE)
        assert text.endswith(";") and text.count(";") == 3 and "?" not in text


def test_every_document_has_one_style():
    x, _ = documents(60, 4, 3, random.Random(1), set())
    styles, skipped, shown = set(), 0, 0
    for row in x.tolist():
        text = decode(row)
        sols = [part.split("?")[1] for part in text.split(";")[:-1]]
        # A document of free chains shows at least one skip unless all its problems happen to draw full routes.
        kind = "direct" if sols[0].startswith("A") else "free" if "_" in text else "cot"
        assert all(s.startswith("A") == (kind == "direct") for s in sols)
        styles.add(kind)
        if kind == "free":
            values = [v for s in sols for v in s.split("A")[0].split("=")[1:-1]]  # intermediate values, last excluded
            skipped += values.count("_")
            shown += len(values) - values.count("_")
    assert styles == {"cot", "direct", "free"}
    assert 0.35 < skipped / (skipped + shown) < 0.65  # each intermediate value is skipped with probability 1/2
    with pytest.raises(ValueError, match="needs an rng"):
        document([EXAMPLE], "free", 3)


def test_free_routes_are_coin_flips():
    g = random.Random(0)
    routes = [free_route(3, g) for _ in range(4000)]
    assert all(len(r) == 2 for r in routes) and free_route(1, g) == ()
    counts = {r: routes.count(r) for r in set(routes)}
    assert len(counts) == 4 and all(850 < c < 1150 for c in counts.values())  # 1,000 expected each


def test_multi_step_test_problems_are_held_out_and_one_step_facts_are_all_tested():
    dm = Data(max_steps=3, n_shots=2, n_train=1000, n_val=8, n_test=20)
    dm.setup()
    rows = [problem_from_row(r) for (r,) in dm.test_set]
    test = set(rows)
    one_step = {p for p in test if len(p[1]) == 1}
    multi = test - one_step
    # Every one-step problem but the exemplar: 60 facts, which training also shows in both styles.
    assert len(rows) == len(test) == 59 + 2 * 20
    assert one_step | set(dm.exemplars[:1]) == {(s, ((op, d),)) for s in range(10) for op in "+*" for d in (1, 2, 3)}
    assert n_held_out(1, 100) == 0 and n_held_out(2, 100) == 100 and n_held_out(2, 400) == 180
    assert dm.held_out == multi and not test & set(dm.exemplars)
    train_text = "".join(decode(row) for row in dm.train_set.tensors[0].tolist())
    seen = set()
    for chunk in train_text.split(";"):
        if "?" in chunk:
            seen.add(chunk.split("?")[0] + "?")
    assert seen and not seen & {question(p, 3) for p in multi}
    assert {question(p, 3) for p in one_step} <= seen  # the facts are trained on
    few = Data(max_steps=3, n_shots=2, n_train=8, n_val=8, n_test=20, n_facts=3)
    few.setup()
    assert sum(len(problem_from_row(r)[1]) == 1 for (r,) in few.test_set) == 3  # tiny test runs: three facts
    assert problem_tensor([EXAMPLE], 4).tolist() == [[3, 4, 0, 3, 1, 3, 0, 2, 0, 0]]
    assert problem_from_row(problem_tensor([EXAMPLE], 4)[0]) == EXAMPLE


def test_bad_data_settings_are_rejected():
    with pytest.raises(ValueError, match="data.max_steps"):
        Data(max_steps=11)
    with pytest.raises(ValueError, match="data.n_shots"):
        Data(n_shots=0)
    with pytest.raises(ValueError, match="free-chain prompt needs a multi-step exemplar"):
        Data(n_shots=1)
    with pytest.raises(ValueError, match="free-chain prompt needs a multi-step exemplar"):
        Data(max_steps=1)
    with pytest.raises(ValueError, match="data.n_facts"):
        Data(n_facts=0)


def test_prompt_is_exemplars_then_the_question():
    ex = [(9, (("+", 3),))]
    assert decode(few_shot_prompt(ex, EXAMPLE, "cot", 3)) == "9+3....?=2A2;4+3*3+2?"
    assert decode(few_shot_prompt(ex, EXAMPLE, "direct", 3)) == "9+3....?A2;4+3*3+2?"
    two = [(9, (("+", 3), ("*", 3)))]
    assert decode(few_shot_prompt(two, EXAMPLE, "free", 3, [(False,)])) == "9+3*3..?=_=6A6;4+3*3+2?"
    with pytest.raises(ValueError, match="one route per exemplar"):
        few_shot_prompt(two, EXAMPLE, "free", 3)


def test_answer_extraction():
    assert extract_answer(encode("=7=1=3A3;")) == 3
    assert extract_answer(encode("A7;=1A2;")) == 7  # only the text before the first ";"
    assert extract_answer(encode("=8=6=3A")) is None  # cut off before the digit
    assert extract_answer(encode("=8=6=3;")) is None  # no answer marker
    assert extract_answer(encode("=8A;")) is None
    assert extract_answer(encode("=_=_=3A3;")) == 3  # a free chain
    assert skipped_fraction(encode("=_=_=3A3;"), 3) == 1.0 and skipped_fraction(encode("=7=_=3A3;"), 3) == 0.5
    assert skipped_fraction(encode("=7=1=3A3;"), 3) == 0.0 and skipped_fraction(encode("=7A7;"), 1) == 0.0
    assert skipped_fraction(encode("A3;"), 3) == 0.0  # an answer without a chain writes no "_"
    assert first_token_style(encode("A3;")) == "direct" and first_token_style(encode("=8A8;")) == "cot"


def test_majority_vote():
    assert majority_vote([3, 5, 3, None, 5, 3]) == 3
    assert majority_vote([5, 3, 3, 5]) == 5  # a tie goes to the answer sampled first
    assert majority_vote([None, None]) is None


class Oracle(torch.nn.Module):
    """A 'model' that always writes a fixed continuation: to test the prompting plumbing."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.out = torch.tensor(encode(text))

    def generate(self, prompt, max_new, temperature=0.0, stop=None, generator=None):
        return self.out[:max_new].repeat(len(prompt), 1)


def test_prompt_and_answer_reads_the_answer_per_sample():
    queries = [EXAMPLE, (1, (("+", 1), ("+", 1), ("+", 1)))]
    answers, styles, skipped = prompt_and_answer(Oracle("=7=1=3A3;"), [EXAMPLE], queries, "cot", 3, 0.5, 3)
    assert answers == [[3, 3, 3], [3, 3, 3]] and styles == ["cot", "cot"] and skipped == [[0.0] * 3, [0.0] * 3]
    two = [(9, (("+", 3), ("*", 3)))]
    answers, _, skipped = prompt_and_answer(Oracle("=_=1=3A3;"), two, queries, "free", 3, routes=[(False,)])
    assert answers == [[3], [3]] and skipped == [[0.5], [0.5]]  # one of the two intermediate values skipped
    with pytest.raises(ValueError, match="same number of steps"):
        prompt_and_answer(Oracle("A3;"), [EXAMPLE], [EXAMPLE, (1, (("+", 1),))], "direct", 3)
