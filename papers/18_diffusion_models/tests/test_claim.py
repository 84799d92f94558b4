"""The claim at laptop scale: as the guidance scale grows, the independent judge recognises more samples as
their requested class and the samples of a class spread less (thresholds in diffusion_models/lightning.py)."""

import pytest
from diffusion_models.lightning import (
    DIVERSITY_RATIO_MAX,
    FIDELITY_MIN,
    JUDGE_ACCURACY_MIN,
    LOSS_MAX,
    RISE_MIN,
    guidance_claim,
)
from diffusion_models.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_guidance_trades_diversity_for_fidelity(tmp_path):
    results, run = run_default_config(main, "18_diffusion_models", tmp_path)
    m, scales = results["metrics"], ["0", "1", "2", "4", "8"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert m["test/loss_simple"] <= LOSS_MAX and m["test/judge_accuracy"] >= JUDGE_ACCURACY_MIN
    assert m["test/fidelity_s8"] >= FIDELITY_MIN
    assert m["test/fidelity_s8"] - m["test/fidelity_s0"] >= RISE_MIN
    assert m["test/diversity_s8"] <= DIVERSITY_RATIO_MAX * m["test/diversity_s0"]
    # Along the whole curve: fidelity never drops by more than 3 points from one scale to the next, and
    # diversity falls at every step (measured at one and at two threads: 0.055, 0.68, 0.855, 0.935, 0.975
    # and 5.58, 4.78, 4.38, 3.98, 3.78).
    fid = [m[f"test/fidelity_s{s}"] for s in scales]
    div = [m[f"test/diversity_s{s}"] for s in scales]
    assert all(b >= a - 0.03 for a, b in zip(fid, fid[1:])), fid
    assert all(b < a for a, b in zip(div, div[1:])), div
    for name in ("guided_samples.png", "fidelity_diversity.png", "ancestral_samples.png"):
        assert (run / "figures" / name).is_file()


def test_claim_fails_for_a_model_that_did_not_learn():
    # An untrained ε_θ (zero output) has held-out L_simple 1.0: even perfect-looking guidance numbers fail.
    untrained = {"test/loss_simple": 1.0, "test/judge_accuracy": 0.97, "test/fidelity_s0": 0.1,
                 "test/fidelity_s8": 0.95, "test/diversity_s0": 6.0, "test/diversity_s8": 4.0}
    out = guidance_claim(untrained, [0.0, 8.0])
    assert out["learned"] is False and out["holds"] is False
    trained = {**untrained, "test/loss_simple": 0.16}
    assert guidance_claim(trained, [0.0, 8.0])["holds"] is True
    no_trade = {**trained, "test/diversity_s8": 5.9}  # fidelity up, diversity unchanged: no trade-off
    assert guidance_claim(no_trade, [0.0, 8.0])["holds"] is False
    assert guidance_claim({}, [0.0, 8.0])["holds"] is False  # missing metrics never pass
