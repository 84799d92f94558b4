"""The default run reproduces the claim (see README for the measured numbers)."""

import pytest
from lora.lightning import CLAIM_FAR, CLAIM_MARGIN, CLAIM_RECOVERED, CLAIM_SIZE_RATIO
from lora.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_reproduces_the_claim(tmp_path):
    out, run = run_default_config(main, "08_lora", tmp_path)
    claim, value = out["claim"], out["claim"]["value"]
    assert claim["holds"] is True, claim
    assert value["recovered"] >= CLAIM_RECOVERED
    assert value["lora_minus_full"] <= CLAIM_MARGIN
    assert value["frozen_minus_lora"] >= CLAIM_FAR
    assert value["size_ratio"] >= CLAIM_SIZE_RATIO
    assert (run / "figures" / "rank_sweep.png").is_file() and (run / "figures" / "subspace_similarity.png").is_file()
