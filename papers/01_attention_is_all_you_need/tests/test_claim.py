"""The paper's claim at laptop scale: the default config learns the held-out translation task."""

import pytest
from attention_is_all_you_need.lightning import CLAIM_THRESHOLD
from attention_is_all_you_need.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_reaches_95_percent_exact_match_on_held_out_numbers(tmp_path):
    results, run = run_default_config(main, "01_attention_is_all_you_need", tmp_path)
    assert results["claim"]["holds"] is True, results["claim"]
    assert results["metrics"]["test/exact_match"] >= CLAIM_THRESHOLD
    assert results["metrics"]["test/exact_match_beam"] >= CLAIM_THRESHOLD
    assert (run / "figures" / "cross_attention.png").is_file()
