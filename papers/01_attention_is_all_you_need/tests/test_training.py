"""The training recipe (Section 5) and the generated task."""

import pytest
import torch
import torch.nn.functional as F
from attention_is_all_you_need.data import (
    BOS,
    EOS,
    PAD,
    VOCAB,
    NumberTranslationData,
    Vocab,
    collate,
    held_out_numbers,
    number_to_words,
)
from attention_is_all_you_need.lightning import exact_matches, label_smoothed_loss, noam_lr


def test_label_smoothing_matches_pytorch_definition():
    torch.manual_seed(0)
    logits, target = torch.randn(4, 6, 11), torch.randint(1, 11, (4, 6))
    target[0, 4:] = PAD
    ours = label_smoothed_loss(logits, target, eps=0.1, pad_id=PAD)
    ref = F.cross_entropy(logits.transpose(1, 2), target, label_smoothing=0.1, ignore_index=PAD)
    torch.testing.assert_close(ours, ref)


def test_label_smoothing_prefers_a_less_confident_model():
    # With eps > 0 the loss is minimised by p[target] = 1 - eps + eps / V, not by a one-hot.
    V, eps = 5, 0.1
    target = torch.tensor([[2]])
    best = torch.full((1, 1, V), eps / V)
    best[0, 0, 2] += 1 - eps
    confident = torch.full((1, 1, V), 1e-4)
    confident[0, 0, 2] = 1 - 4e-4
    loss = lambda p: label_smoothed_loss(p.log(), target, eps, pad_id=PAD)  # noqa: E731
    assert loss(best) < loss(confident)


def test_noam_schedule_warms_up_then_decays():
    d_model, warmup = 64, 400
    lrs = [noam_lr(s, d_model, warmup) for s in range(1, 4001)]
    peak = max(range(len(lrs)), key=lrs.__getitem__) + 1
    assert peak == warmup
    assert lrs[warmup - 1] == pytest.approx((d_model * warmup) ** -0.5)
    assert lrs[4 * warmup - 1] == pytest.approx(lrs[warmup - 1] / 2)  # 1/sqrt(step): 4x steps, half the rate
    assert all(a < b for a, b in zip(lrs[: warmup - 1], lrs[1:warmup]))  # linear warmup


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (15, "fifteen"),
        (40, "forty"),
        (105, "one hundred five"),
        (1_005, "one thousand five"),
        (90_210, "ninety thousand two hundred ten"),
        (342_007, "three hundred forty two thousand seven"),
        (999_999, "nine hundred ninety nine thousand nine hundred ninety nine"),
    ],
)
def test_number_to_words(n, words):
    assert " ".join(number_to_words(n)) == words


def test_number_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="number must be in"):
        number_to_words(1_000_000)


def test_splits_are_disjoint_and_cover_every_length():
    dm = NumberTranslationData(train_size=3000, val_size=100, test_size=600, seed=3)
    dm.setup()
    train, val, test = (set(d.numbers) for d in (dm.train_set, dm.val_set, dm.test_set))
    assert not (train & test) and not (train & val) and not (val & test)
    assert len(test) == 600 and len(val) == 100
    assert {len(str(n)) for n in test} == set(range(1, 7))
    assert {len(str(n)) for n in train} == set(range(1, 7))


def test_held_out_never_takes_most_short_numbers():
    held = held_out_numbers(3000, seed=0)
    assert sum(n < 10 for n in held) <= 2 and sum(10 <= n < 100 for n in held) <= 18


def test_pairs_and_collate():
    dm = NumberTranslationData(train_size=10, val_size=10, test_size=10)
    dm.setup()
    src, tgt = collate([dm.train_set[i] for i in range(4)])
    assert src.dim() == 2 and tgt.dim() == 2 and len(src) == 4
    assert (tgt[:, 0] == BOS).all() and ((tgt == EOS).sum(1) == 1).all()
    vocab = Vocab()
    n = dm.train_set.numbers[0]
    assert "".join(vocab.decode(tgt[0])) == str(n)
    assert vocab.decode(src[0]) == number_to_words(n)


def test_vocab_rejects_unknown_token():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        Vocab().encode(["eleventy"])
    assert len(VOCAB) == len(set(VOCAB))


def test_exact_match_counts_up_to_eos_only():
    t = torch.tensor([[BOS, 10, 11, EOS, PAD]])
    assert exact_matches(torch.tensor([[BOS, 10, 11, EOS, 5]]), t).item()
    assert not exact_matches(torch.tensor([[BOS, 10, 12, EOS, PAD]]), t).item()
    assert not exact_matches(torch.tensor([[BOS, 10, 11, 11, EOS]]), t).item()


@pytest.mark.parametrize("kwargs", [{"train_size": 0}, {"batch_size": 0}])
def test_impossible_data_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="must be >= 1"):
        NumberTranslationData(**kwargs)
