"""The zero-shot task: how the word-order questions are built from held-out text, how the choices are scored
by likelihood, what chance is, and how the claim uses the accuracy."""

import pytest
import torch
from gpt2.data import ORDER_MIN_CONTEXT, ORDER_MIN_WORDS, CharText, word_order_questions
from gpt2.lightning import CLAIM_TARGET, ZEROSHOT_TARGET, GPT2LanguageModel, choice_log_likelihoods, zero_shot_accuracy
from gpt2.model import GPT2, GPT2Config
from shared.data import CharTokenizer, load_shakespeare

TEXT = load_shakespeare(("romeo-and-juliet",))[:40_000]
TOK = CharTokenizer.fit(TEXT)


@pytest.fixture(scope="module")
def questions():
    return word_order_questions(TEXT, TOK, n_questions=200, n_choices=10, length=65, seed=0)


def test_each_question_is_a_real_line_and_shuffles_of_its_inner_words(questions):
    assert questions.ids.shape == (200, 10, 65) and questions.n_choices == 10
    for q in range(200):
        rows = [TOK.decode(r) for r in questions.ids[q]]
        real, s = rows[questions.answer[q]], int(questions.score_from[q])
        assert real in TEXT and real[s - 1] == "\n"  # an untouched window ending with a whole line
        assert s >= ORDER_MIN_CONTEXT
        words = real[s:].split(" ")
        assert len(words) >= ORDER_MIN_WORDS
        assert len(set(rows)) == 10  # ten distinct orders
        for r in rows:
            assert r[:s] == real[:s]  # the same context
            other = r[s:].split(" ")
            assert other[0] == words[0] and other[-1] == words[-1]  # first and last word stay put
            assert sorted(other) == sorted(words)  # the same words, so the same characters


def test_the_real_line_sits_at_every_position_about_equally(questions):
    counts = torch.bincount(questions.answer, minlength=10)
    assert counts.min() >= 8 and counts.max() <= 35  # 200 questions, about 20 per position


def test_questions_are_deterministic_given_the_seed():
    a = word_order_questions(TEXT, TOK, 50, seed=3)
    b = word_order_questions(TEXT, TOK, 50, seed=3)
    c = word_order_questions(TEXT, TOK, 50, seed=4)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.answer, b.answer)
    assert not torch.equal(a.ids, c.ids)


def test_no_questions_when_turned_off_or_the_window_is_too_short():
    assert word_order_questions(TEXT, TOK, 0) is None
    assert word_order_questions(TEXT, TOK, 10, length=17) is None  # data.block_size 16: no line fits
    with pytest.raises(ValueError, match="data.zeroshot_choices must be >= 2"):
        word_order_questions(TEXT, TOK, 10, n_choices=1)


def test_bad_zero_shot_settings_are_rejected():
    with pytest.raises(ValueError, match="data.zeroshot_questions must be >= 0, got -1"):
        CharText(zeroshot_questions=-1)
    with pytest.raises(ValueError, match="data.zeroshot_choices must be >= 2, got 1"):
        CharText(zeroshot_choices=1)


def test_each_choice_is_scored_by_its_log_likelihood_given_the_context(questions):
    torch.manual_seed(0)
    model = GPT2(GPT2Config(vocab_size=TOK.vocab_size, n_ctx=64, d_model=32, n_heads=4, n_layers=2)).eval()
    ids, score_from = questions.ids[:3], questions.score_from[:3]
    scores = choice_log_likelihoods(model, ids, score_from, chunk=7)  # chunks that split questions
    assert scores.shape == (3, 10)
    for q in range(3):
        for c in (0, 4, 9):
            x = ids[q, c]
            logp = model(x[None, :-1])[0].log_softmax(-1)  # [64, vocab]
            s = int(score_from[q])
            expected = sum(logp[t - 1, x[t]].item() for t in range(s, len(x)))  # characters s .. end
            assert scores[q, c].item() == pytest.approx(expected, abs=1e-4)


def test_a_model_that_knows_nothing_scores_chance(questions):
    class Uniform(torch.nn.Module):
        def forward(self, idx):
            return torch.zeros(*idx.shape, TOK.vocab_size)

    # Every choice gets the same likelihood; argmax takes the first, which is right 1 time in 10.
    acc = zero_shot_accuracy(Uniform(), questions.ids, questions.score_from, questions.answer)
    assert acc == pytest.approx((questions.answer == 0).float().mean().item())
    assert abs(acc - 0.1) < 0.06


def test_knowing_which_characters_are_common_does_not_help(questions):
    # A unigram model (each character's frequency in the text, no context) gives every choice the
    # same score, because the choices hold the same characters: it cannot beat chance.
    counts = torch.bincount(TOK.encode(TEXT), minlength=TOK.vocab_size).float() + 1

    class Unigram(torch.nn.Module):
        def forward(self, idx):
            return counts.log().expand(*idx.shape, -1)

    scores = choice_log_likelihoods(Unigram(), questions.ids, questions.score_from)
    torch.testing.assert_close(scores, scores[:, :1].expand_as(scores), atol=1e-3, rtol=0)


def test_a_model_that_has_read_the_text_gets_them_right(questions):
    # A "model" that puts its probability on the character that really follows in TEXT (looked up by
    # the 12 characters before it) must pick the real line almost always.
    table = {}
    for i in range(12, len(TEXT)):
        table.setdefault(TEXT[i - 12 : i], TEXT[i])

    class Oracle(torch.nn.Module):
        def forward(self, idx):
            out = torch.full((*idx.shape, TOK.vocab_size), -20.0)
            for b, row in enumerate(idx):
                chars = TOK.decode(row)
                for t in range(12, len(chars) + 1):
                    nxt = table.get(chars[t - 12 : t])
                    if nxt is not None:
                        out[b, t - 1, TOK.stoi[nxt]] = 20.0
            return out

    acc = zero_shot_accuracy(Oracle(), questions.ids[:30], questions.score_from[:30], questions.answer[:30])
    assert acc > 0.9


def test_claim_needs_the_zero_shot_target_and_size_ordering_when_the_task_ran():
    claim = GPT2LanguageModel.claim
    loss = {"test/loss": CLAIM_TARGET - 0.1, "test/loss_small": CLAIM_TARGET}
    good = loss | {"test/zeroshot_acc": ZEROSHOT_TARGET + 0.05, "test/zeroshot_acc_small": ZEROSHOT_TARGET - 0.05,
                   "test/zeroshot_chance": 0.1}
    out = claim(good)
    assert out["holds"] is True and out["zeroshot_chance"] == 0.1 and out["zeroshot_larger_is_better"] is True
    assert out["zeroshot_value"] == pytest.approx(ZEROSHOT_TARGET + 0.05)
    assert claim(good | {"test/zeroshot_acc": ZEROSHOT_TARGET - 0.01})["holds"] is False  # below the target
    assert claim(good | {"test/zeroshot_acc_small": ZEROSHOT_TARGET + 0.1})["holds"] is False  # smaller wins
    assert claim(good | {"test/loss": CLAIM_TARGET + 0.1})["holds"] is False  # the loss half still counts
    assert claim(loss)["holds"] is True and "zeroshot_value" not in claim(loss)  # task not run: loss claim only
    assert ZEROSHOT_TARGET >= 2 * 0.1  # the target is at least twice chance (1 in 10)
