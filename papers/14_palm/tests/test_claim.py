"""The paper's claim at laptop scale: the parallel block trains as well as the serial block."""

import json

import pytest
from palm.lightning import CLAIM_TOLERANCE
from palm.train import main


@pytest.mark.claim
def test_default_run_parallel_block_matches_serial_block(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "claim", "--trainer.enable_progress_bar", "false"])
    run = tmp_path / "14_palm" / "claim"
    out = json.loads((run / "results.json").read_text())
    m = out["metrics"]
    assert out["claim"]["holds"] is True, out["claim"]
    assert (m["test/loss_parallel"] - m["test/loss_serial"]) / m["test/loss_serial"] <= CLAIM_TOLERANCE
    # Both models learned English letters and words, not just character frequencies (about 3.3 nats).
    assert m["test/loss_parallel"] < 2.6 and m["test/loss_serial"] < 2.6
    assert (run / "figures" / "val_loss.png").is_file()
