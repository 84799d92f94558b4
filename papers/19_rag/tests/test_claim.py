import json

import pytest
from rag.lightning import CLAIM_THRESHOLD
from rag.train import main


@pytest.mark.claim
def test_default_run_reproduces_the_claim(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "claim", "--trainer.enable_progress_bar", "false"])
    out = json.loads((tmp_path / "19_rag" / "claim" / "results.json").read_text())
    assert out["claim"]["holds"] is True, out["claim"]
    assert out["metrics"]["test/accuracy"] >= CLAIM_THRESHOLD
