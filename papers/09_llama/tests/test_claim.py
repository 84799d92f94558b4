"""The claim: at equal parameters and equal steps, the LLaMA block reaches a lower held-out loss
than the GPT-2 block. Runs the default config (about 2 minutes on 2 CPU cores)."""

import pytest
from llama.lightning import CLAIM_MARGIN
from llama.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_reproduces_the_claim(tmp_path):
    results, _ = run_default_config(main, "09_llama", tmp_path)
    metrics = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert metrics["test/loss_gpt2"] - metrics["test/loss_llama"] >= CLAIM_MARGIN
    params = results["claim"]["params"]
    assert max(params.values()) / min(params.values()) < 1.005  # equal parameter counts
    assert results["global_step"] == 700  # equal steps: every variant took every step
