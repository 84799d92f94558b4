"""The claim at laptop scale: at equal active parameters per token and equal steps, the MoE decoder reaches a
lower held-out loss than the dense one; without the balancing losses the expert load collapses, with them it
stays near uniform. Runs the default config (about 100 s of CPU time on one thread)."""

import pytest
from mixture_of_experts.lightning import CLAIM_BALANCED, CLAIM_COLLAPSE, CLAIM_LOSS_GAP
from mixture_of_experts.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_moe_beats_dense_and_balancing_prevents_collapse(tmp_path):
    results, run = run_default_config(main, "20_mixture_of_experts", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert m["test/loss_dense"] - m["test/loss_moe"] >= CLAIM_LOSS_GAP
    assert m["test/train_max_load_moe_unbalanced"] >= CLAIM_COLLAPSE
    assert m["test/train_max_load_moe"] <= CLAIM_BALANCED
    active = results["claim"]["active_params"]  # equal but for the gates' W_g and W_noise (2 x 2 x 64 x 8)
    assert active["moe"] - active["dense"] == 2 * 2 * 64 * 8
    assert results["global_step"] == 300  # equal steps: every variant took every step
    assert (run / "figures" / "expert_load.png").is_file()
