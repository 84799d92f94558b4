"""The paper's claim at laptop scale: the default config, run end to end, reproduces it."""

import pytest
from scaling_laws.lightning import DECADES_MIN, LEARNED_LOSS_MAX, R2_MIN, TOKEN_RATIO_MIN
from scaling_laws.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_loss_follows_a_power_law_in_n_and_larger_models_learn_faster(tmp_path):
    results, run = run_default_config(main, "07_scaling_laws", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    # Six fitted sizes over >= 1.5 decades of N, R² >= 0.95 in log space; the seventh, largest, held out.
    assert m["test/r2_log"] >= R2_MIN and m["test/decades_fitted"] >= DECADES_MIN
    assert 0 < m["test/alpha_N"] < 1
    # Figure 2: the largest model reaches the smallest's final loss with at most half the tokens.
    assert m["test/token_ratio"] >= TOKEN_RATIO_MIN and m["test/tokens_largest"] < m["test/tokens_smallest"]
    # Larger is better at every step of the sweep: the held-out loss falls monotonically with N.
    losses = [m[f"test/d{d}_loss"] for d in (8, 12, 16, 24, 32, 48, 64)]
    assert losses == sorted(losses, reverse=True), losses
    assert m["test/largest_loss"] <= LEARNED_LOSS_MAX
    assert "test/holdout_relative_error" in m
    assert (run / "figures" / "loss_vs_n.png").is_file() and (run / "figures" / "learning_curves.png").is_file()
