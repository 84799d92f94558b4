"""The claim: at equal parameters and equal steps, the LLaMA block reaches a lower held-out loss
than the GPT-2 block. Runs the default config (about 2 minutes on 2 CPU cores)."""

import json

import pytest
from llama.lightning import CLAIM_MARGIN
from llama.train import main


@pytest.mark.claim
def test_default_run_reproduces_the_claim(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "claim", "--trainer.enable_progress_bar", "false"])
    out = json.loads((tmp_path / "09_llama" / "claim" / "results.json").read_text())
    metrics = out["metrics"]
    assert out["claim"]["holds"] is True, out["claim"]
    assert metrics["test/loss_gpt2"] - metrics["test/loss_llama"] >= CLAIM_MARGIN
    params = out["claim"]["params"]
    assert max(params.values()) / min(params.values()) < 1.005  # equal parameter counts
    assert out["global_step"] == 700  # equal steps: every variant took every step
