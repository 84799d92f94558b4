"""The family module: each model trains only for its own steps, and the loss prediction never looks at
the largest model."""

import pytest
import torch
from gpt4_analysis.lightning import LOSS_MAX, ModelFamily, predict_largest


def test_a_model_is_untouched_after_its_step_budget_and_the_others_keep_learning(monkeypatch):
    monkeypatch.setattr(ModelFamily, "global_step", property(lambda self: self.fake_step))
    monkeypatch.setattr(ModelFamily, "log", lambda self, *a, **k: None)
    family = ModelFamily(d_models=[4, 8, 12, 16], steps=[1, 2, 3, 3], n_heads=2, warmup_steps=0)
    conf = family.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    seq = torch.randint(3, 40, (4, 18))
    snapshot = {k: [p.detach().clone() for p in m.parameters()] for k, m in family.models.items()}
    for step in range(3):
        if step == 1:
            d4_after_1 = [p.detach().clone() for p in family.models["d4"].parameters()]
        family.fake_step = step
        opt.zero_grad(set_to_none=True)
        family.training_step((seq,), step).backward()
        if step >= 1:  # past its budget d4 is out of the forward pass: no gradient, nothing for Adam to do
            assert all(p.grad is None for p in family.models["d4"].parameters())
        opt.step()
        sched.step()
    # d4 stopped after its single step: nothing changed in it since (no gradient, so Adam skips it)
    assert all(torch.equal(a, b) for a, b in zip(d4_after_1, family.models["d4"].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(snapshot["d4"], d4_after_1))  # but it did take its step
    # every parameter of d16 changed from its initial value
    assert all(not torch.equal(a, b) for a, b in zip(snapshot["d16"], family.models["d16"].parameters()))


def test_schedule_reaches_zero_at_each_models_last_step():
    family = ModelFamily(d_models=[4, 8, 12, 16], steps=[2, 4, 6, 8], n_heads=2, warmup_steps=1)
    sched = family.configure_optimizers()["lr_scheduler"]["scheduler"]
    factors = [[f(s) for f in sched.lr_lambdas] for s in range(9)]
    assert factors[0] == [1.0] * 4  # one warm-up step
    assert [factors[2][0], factors[4][1], factors[6][2], factors[8][3]] == pytest.approx([0.0] * 4)
    assert all(f > 0 for f in factors[3][1:])


def test_prediction_uses_only_the_smaller_models():
    compute = dict(zip("abcde", [1e9, 3e9, 1e10, 3e10, 1e11]))
    losses = dict(zip("abcde", [2.0, 1.8, 1.65, 1.55, 1.5]))
    _, p1 = predict_largest(losses, compute)
    _, p2 = predict_largest({**losses, "e": 99.0}, compute)  # whatever the largest model measured
    _, p3 = predict_largest({**losses, "d": 1.6}, compute)  # a smaller model's loss does move it
    assert p1 == p2 and p3 != p1


def test_bad_family_settings_are_clear_errors():
    with pytest.raises(ValueError, match="steps"):
        ModelFamily(d_models=[4, 8, 12, 16], steps=[3, 2, 4, 5], n_heads=2)
    with pytest.raises(ValueError, match="at least 4 sizes"):
        ModelFamily(d_models=[4, 8, 12], steps=[1, 2, 3], n_heads=2)
    with pytest.raises(ValueError, match="model.lr"):
        ModelFamily(lr=0)


def test_claim_fails_when_the_prediction_misses_or_the_largest_model_has_nothing_to_predict():
    good = {"test/relative_error": -0.01, "test/error_over_drop": 0.2, "test/largest_loss": LOSS_MAX - 0.1,
            "test/decades_total": 2.2, "test/profile_gap": 0.1, "test/contamination_recall": 1.0,
            "test/contamination_fpr": 0.0, "test/ece_largest": 0.03}
    assert ModelFamily.claim(good)["holds"]
    for key, bad in (("test/relative_error", -0.2), ("test/error_over_drop", 0.9),
                     ("test/error_over_drop", float("nan")), ("test/largest_loss", LOSS_MAX + 0.1),
                     ("test/ece_largest", 0.5), ("test/contamination_recall", 0.99)):
        assert not ModelFamily.claim({**good, key: bad})["holds"], key
    assert not ModelFamily.claim({k: v for k, v in good.items() if k != "test/ece_largest"})["holds"]
