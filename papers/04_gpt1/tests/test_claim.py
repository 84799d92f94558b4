"""The paper's claim at laptop scale: generative pre-training improves the fine-tuned classifier."""

import pytest
from gpt1.lightning import CLAIM_MARGIN
from gpt1.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_pretrained_classifier_beats_the_one_trained_from_scratch(tmp_path):
    results, run = run_default_config(main, "04_gpt1", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert m["test/acc_pretrained"] - m["test/acc_scratch"] >= CLAIM_MARGIN
    assert m["test/acc_pretrained"] > 0.5 + CLAIM_MARGIN  # clearly better than chance, not just better than scratch
    assert "test/acc_pretrained_no_aux" in m  # the auxiliary-loss ablation is reported
    assert (run / "figures" / "finetune_accuracy.png").is_file()
