"""The paper's claim at laptop scale: the default config, run end to end, reproduces it."""

import pytest
from layer_norm.lightning import BATCH_ONE_BN_LOSS, BATCH_ONE_LN_ACCURACY, MLP_SPEEDUP, RNN_SPEEDUP
from layer_norm.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_layer_norm_trains_faster_and_works_at_batch_size_one(tmp_path):
    results, run = run_default_config(main, "12_layer_norm", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    # LN trains faster than no normalisation: lower training loss, averaged over the same steps.
    assert m["test/rnn_none_mean_train_loss"] - m["test/rnn_layer_mean_train_loss"] >= RNN_SPEEDUP
    assert m["test/mlp_none_mean_train_loss"] - m["test/mlp_layer_mean_train_loss"] >= MLP_SPEEDUP
    # Batch size 1: LN learns the digits, BN's training loss stays near ln 10 (no signal gets through).
    assert m["test/mlp1_layer_accuracy"] >= BATCH_ONE_LN_ACCURACY
    assert m["test/mlp1_batch_mean_train_loss"] >= BATCH_ONE_BN_LOSS
    assert m["test/mlp1_layer_mean_train_loss"] < BATCH_ONE_BN_LOSS
    assert m["test/table1_agreement"] == 1.0
    assert (run / "figures" / "learning_curves.png").is_file() and (run / "figures" / "batch_size_one.png").is_file()
