"""The paper's claim at laptop scale: fine-tuning from the pre-trained encoder beats fine-tuning
from random initialisation, with the same fine-tuning data, steps and learning rate."""

import pytest
from bert.lightning import CLAIM_MARGIN
from bert.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_pretrained_init_beats_random_init_on_held_out_word_order(tmp_path):
    results, run = run_default_config(main, "02_bert", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert m["test/accuracy_pretrained"] - m["test/accuracy_random"] >= CLAIM_MARGIN
    assert (run / "figures" / "finetuning_curves.png").is_file()
