"""The paper's claim at laptop scale: the default config, run end to end, reproduces it."""

import json

import pytest
from layer_norm.lightning import BATCH_ONE_BN_LOSS, BATCH_ONE_LN_ACCURACY, MLP_SPEEDUP, RNN_SPEEDUP
from layer_norm.train import main


@pytest.mark.claim
def test_default_run_layer_norm_trains_faster_and_works_at_batch_size_one(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "claim", "--trainer.enable_progress_bar", "false"])
    run = tmp_path / "12_layer_norm" / "claim"
    out = json.loads((run / "results.json").read_text())
    m = out["metrics"]
    assert out["claim"]["holds"] is True, out["claim"]
    # LN trains faster than no normalisation: lower training loss, averaged over the same steps.
    assert m["test/rnn_none_mean_train_loss"] - m["test/rnn_layer_mean_train_loss"] >= RNN_SPEEDUP
    assert m["test/mlp_none_mean_train_loss"] - m["test/mlp_layer_mean_train_loss"] >= MLP_SPEEDUP
    # Batch size 1: LN learns the digits, BN's training loss stays near ln 10 (no signal gets through).
    assert m["test/mlp1_layer_accuracy"] >= BATCH_ONE_LN_ACCURACY
    assert m["test/mlp1_batch_mean_train_loss"] >= BATCH_ONE_BN_LOSS
    assert m["test/mlp1_layer_mean_train_loss"] < BATCH_ONE_BN_LOSS
    assert m["test/table1_agreement"] == 1.0
    assert (run / "figures" / "learning_curves.png").is_file() and (run / "figures" / "batch_size_one.png").is_file()
