"""The paper's claim at laptop scale: generative pre-training improves the fine-tuned classifier."""

import json

import pytest
from gpt1.lightning import CLAIM_MARGIN
from gpt1.train import main


@pytest.mark.claim
def test_default_run_pretrained_classifier_beats_the_one_trained_from_scratch(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "claim", "--trainer.enable_progress_bar", "false"])
    run = tmp_path / "04_gpt1" / "claim"
    out = json.loads((run / "results.json").read_text())
    m = out["metrics"]
    assert out["claim"]["holds"] is True, out["claim"]
    assert m["test/acc_pretrained"] - m["test/acc_scratch"] >= CLAIM_MARGIN
    assert m["test/acc_pretrained"] > 0.5 + CLAIM_MARGIN  # clearly better than chance, not just better than scratch
    assert "test/acc_pretrained_no_aux" in m  # the auxiliary-loss ablation is reported
    assert (run / "figures" / "finetune_accuracy.png").is_file()
