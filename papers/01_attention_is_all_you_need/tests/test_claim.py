"""The paper's claim at laptop scale: the default config learns the held-out translation task."""

import json

import pytest
from attention_is_all_you_need.lightning import CLAIM_THRESHOLD
from attention_is_all_you_need.train import main


@pytest.mark.claim
def test_default_run_reaches_95_percent_exact_match_on_held_out_numbers(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "claim", "--trainer.enable_progress_bar", "false"])
    run = tmp_path / "01_attention_is_all_you_need" / "claim"
    out = json.loads((run / "results.json").read_text())
    assert out["claim"]["holds"] is True, out["claim"]
    assert out["metrics"]["test/exact_match"] >= CLAIM_THRESHOLD
    assert out["metrics"]["test/exact_match_beam"] >= CLAIM_THRESHOLD
    assert (run / "figures" / "cross_attention.png").is_file()
