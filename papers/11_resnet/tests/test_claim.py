"""The paper's claim at laptop scale: the default run shows degradation in the plain nets and none in
the residual nets (thresholds in resnet/lightning.py, set from the measured default run)."""

import pytest
from resnet.lightning import PLAIN_GAP_MIN, RESIDUAL_GAP_MAX, SHALLOW_ERROR_MAX
from resnet.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_shows_degradation_only_without_shortcuts(tmp_path):
    results, run = run_default_config(main, "11_resnet", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert m["train_error/plain32"] - m["train_error/plain8"] >= PLAIN_GAP_MIN
    assert m["train_error/resnet32"] - m["train_error/resnet8"] <= RESIDUAL_GAP_MAX
    # The nets learned: both shallow nets fit the training digits (a gap between untrained nets means nothing).
    assert results["claim"]["learned"] is True
    assert max(m["train_error/plain8"], m["train_error/resnet8"]) <= SHALLOW_ERROR_MAX
    # The shortcut is what rescues the deep net: ResNet-32 beats plain-32 on training and test error.
    assert m["train_error/resnet32"] < m["train_error/plain32"] - PLAIN_GAP_MIN
    assert m["test_error/resnet32"] < m["test_error/plain32"]
    assert (run / "figures" / "degradation.png").is_file()


def test_barely_trained_run_does_not_hold(tmp_path):
    # One epoch (23 steps) of the default config: the nets are still far from fitting the digits, so the
    # claim must say no. Before the learning requirement it said yes: on the 2-core reference machine this
    # run had plain-32 56 points above plain-8 and ResNet-32 15 points below ResNet-8, both gaps "passing",
    # with ResNet-8 at 87% training error.
    results, _ = run_default_config(main, "11_resnet", tmp_path, "--trainer.max_epochs", "1",
                                    "--trainer.enable_model_summary", "false")
    assert results["global_step"] == 23
    assert max(results["metrics"][f"train_error/{n}"] for n in ("plain8", "resnet8")) > SHALLOW_ERROR_MAX
    assert results["claim"]["learned"] is False and results["claim"]["holds"] is False, results["claim"]
