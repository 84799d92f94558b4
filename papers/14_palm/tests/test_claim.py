"""The paper's claim at laptop scale: the parallel block trains as well as the serial block."""

import pytest
from palm.lightning import CLAIM_TOLERANCE
from palm.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_parallel_block_matches_serial_block(tmp_path):
    results, run = run_default_config(main, "14_palm", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert (m["test/loss_parallel"] - m["test/loss_serial"]) / m["test/loss_serial"] <= CLAIM_TOLERANCE
    # Both models learned English letters and words, not just character frequencies (about 3.3 nats).
    assert m["test/loss_parallel"] < 2.6 and m["test/loss_serial"] < 2.6
    assert (run / "figures" / "val_loss.png").is_file()
