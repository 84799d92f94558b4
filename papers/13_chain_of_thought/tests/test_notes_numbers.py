"""Every worked number in notes.md, recomputed from the code and found in the text as written; the
maths-to-code table checked against the source."""

from math import comb

from chain_of_thought import data, lightning, model, prompting
from chain_of_thought.data import VOCAB, Data, max_len, n_problems, question, solution, solve
from chain_of_thought.model import Decoder, DecoderConfig
from chain_of_thought.prompting import few_shot_prompt, majority_vote
from shared.testing import PaperText

TEXT = PaperText.of(__file__)
in_notes = TEXT.in_notes
EXAMPLE = (4, (("+", 3), ("*", 3), ("+", 2)))


def test_glossary_line_sits_under_the_title():
    head = TEXT.notes.split("## Contents")[0]
    assert "New to a term? See the [glossary](../glossary.md) and the [maths quick reference](../maths.md)." in head


def test_worked_example():
    assert solve(EXAMPLE) == [7, 1, 3]
    in_notes(f"`{question(EXAMPLE, 4)}`", f"`{solution(EXAMPLE, 'cot')}`", f"`{solution(EXAMPLE, 'direct')}`")
    other = (4, (("*", 3), ("+", 3), ("+", 2)))
    in_notes(f"`{solution(other, 'cot')}`")
    # The four routes of the free chain, and the one-jump value after a skip.
    assert solution(EXAMPLE, "free", (True, True)) == solution(EXAMPLE, "cot")
    in_notes(*(f"`{solution(EXAMPLE, 'free', r)}`" for r in ((True, False), (False, True), (False, False))))
    assert (7 * 3 + 2) % 10 == solve(EXAMPLE)[2]
    in_notes("$2^{3-1} = 4$ routes", "($7 \\times 3 + 2 = 23 \\to 3$)")
    text = question(EXAMPLE, 4) + solution(EXAMPLE, "cot")
    assert text.index("=") == 10 and text[2] == "3" and 10 - 2 == 2 * 4
    in_notes("is at index 10 and the digit 3", "8 = 2 · max_steps tokens back")


def test_problem_counts_and_document_length():
    in_notes(f"$10 \\times 6 = {n_problems(1)}$ one-step problems", f"{n_problems(2)} two-step problems",
             f"$10 \\times 6^3 = {n_problems(3):,}$".replace(",", "{,}"))
    in_notes(f"$1 + 3 \\times (8 + 9) = {max_len(3, 3)}$ tokens")


def test_default_model_size_and_split():
    dm = Data()
    assert (dm.hparams.max_steps, dm.hparams.n_shots, dm.seq_len) == (3, 2, max_len(3, 3))
    in_notes("2 · max_steps = 6 tokens behind", f"`{question(EXAMPLE, 3)}`")
    hp = lightning.ChainOfThought().hparams
    m = Decoder(DecoderConfig(vocab_size=len(VOCAB), n_ctx=dm.seq_len, d_model=hp.d_model, n_heads=hp.n_heads,
                              n_layers=hp.n_layers))
    in_notes(f"two layers, d_model 64, {m.num_params():,} parameters")
    in_notes(f"logits `[batch, T, {len(VOCAB)}]`")
    in_notes(f"{dm.hparams.n_test} held-out problems per step count from two steps")
    small = Data(n_train=8, n_val=8)  # the same seed draws the same test problems and exemplars
    small.setup()
    one_step = sum(len(p[1]) == 1 for p in map(data.problem_from_row, small.test_set.tensors[0]))
    assert one_step == n_problems(1) - 1 and small.hparams.n_test == dm.hparams.n_test
    in_notes(f"the {one_step} one-step facts that are not exemplars")
    # The three prompts of the worked example: the default exemplars and routes, the first two-step question.
    query = next(p for p in map(data.problem_from_row, small.test_set.tensors[0]) if len(p[1]) == 2)
    assert [len(p[1]) for p in small.exemplars] == [1, 2] and small.exemplar_routes == [(), (False,)]
    in_notes(f"`{question(query, 3)}`", *(f"`{question(p, 3)}`" for p in small.exemplars))
    for style in ("cot", "free", "direct"):
        tokens = few_shot_prompt(small.exemplars, query, style, 3, small.exemplar_routes)
        assert tokens[0] == data.BOS
        in_notes(f"`{''.join(VOCAB[i] for i in tokens[1:])}`")


def test_self_consistency_bounds():
    q2, q3, m = 0.4, 0.3, 16
    p = (1 + 2 * q2 + q3) / 4  # one sample of a three-step free chain, four routes of 1/4 at temperature 1
    assert abs(p - 0.525) < 1e-12
    in_notes("$p = \\tfrac14 (1 + 2 q_2 + q_3)", "q_2 = 0.4,\\; q_3 = 0.3 \\;\\Rightarrow\\; p = 0.525,$$")
    for lo in (m // 2 + 1, 2):  # a strict majority (wrong answers all agree) or two (wrong answers never agree)
        bound = sum(comb(m, j) * p ** j * (1 - p) ** (m - j) for j in range(lo, m + 1))
        in_notes(f"\\sum_{{j={lo}}}^{{{m}}} \\binom{{{m}}}{{j}} 0.525^j \\, 0.475^{{{m}-j}} = {bound:.5f}$")
    assert majority_vote([3, 5, 3, None, 5, 3]) == 3


def test_vote_cap_when_wrong_answers_agree():
    # Wrong samples all on one digit: the vote needs 9 of 16 right, or 8 and the first sample right (a tie).
    def vote_right(p):
        b = [comb(16, j) * p ** j * (1 - p) ** (16 - j) for j in range(17)]
        return sum(b[9:]) + b[8] / 2
    cap = max(vote_right(i / 10000) / (i / 10000) for i in range(1, 10001))
    in_notes(f"caps its accuracy at {cap:.3f} times", f"({cap:.3f} is the largest value", "one of them is right 45.6%")
    in_notes(f"that is at {100 * cap * 0.456:.1f}%; it scores 85.0%")


def test_maths_to_code_table():
    assert TEXT.check_maths_to_code("6. From maths to code", [model, data, prompting, lightning], min_rows=20) >= 20
