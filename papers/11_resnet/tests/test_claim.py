"""The paper's claim at laptop scale: the default run shows degradation in the plain nets and none in
the residual nets (thresholds in resnet/lightning.py, set from the measured default run)."""

import json

import pytest
from resnet.lightning import PLAIN_GAP_MIN, RESIDUAL_GAP_MAX
from resnet.train import main


@pytest.mark.claim
def test_default_run_shows_degradation_only_without_shortcuts(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "claim", "--trainer.enable_progress_bar", "false"])
    run = tmp_path / "11_resnet" / "claim"
    out = json.loads((run / "results.json").read_text())
    m = out["metrics"]
    assert out["claim"]["holds"] is True, out["claim"]
    assert m["train_error/plain32"] - m["train_error/plain8"] >= PLAIN_GAP_MIN
    assert m["train_error/resnet32"] - m["train_error/resnet8"] <= RESIDUAL_GAP_MAX
    # The shortcut is what rescues the deep net: ResNet-32 beats plain-32 on training and test error.
    assert m["train_error/resnet32"] < m["train_error/plain32"] - PLAIN_GAP_MIN
    assert m["test_error/resnet32"] < m["test_error/plain32"]
    assert (run / "figures" / "degradation.png").is_file()
