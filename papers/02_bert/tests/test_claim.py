"""The paper's claim at laptop scale: fine-tuning from the pre-trained encoder beats fine-tuning
from random initialisation, with the same fine-tuning data, steps and learning rate."""

import json

import pytest
from bert.lightning import CLAIM_MARGIN
from bert.train import main


@pytest.mark.claim
def test_pretrained_init_beats_random_init_on_held_out_word_order(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "claim", "--trainer.enable_progress_bar", "false"])
    run = tmp_path / "02_bert" / "claim"
    out = json.loads((run / "results.json").read_text())
    m = out["metrics"]
    assert out["claim"]["holds"] is True, out["claim"]
    assert m["test/accuracy_pretrained"] - m["test/accuracy_random"] >= CLAIM_MARGIN
    assert (run / "figures" / "finetuning_curves.png").is_file()
