"""The report's methodology at laptop scale: the default config, run end to end, reproduces the claim."""

import pytest
from gpt4_analysis.lightning import (
    DECADES_MIN,
    ECE_MAX,
    ERROR_OVER_DROP_MAX,
    FALSE_POSITIVE_MAX,
    LOSS_MAX,
    REL_ERROR_MAX,
)
from gpt4_analysis.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_predicts_the_largest_loss_profiles_capabilities_and_catches_planted_leaks(tmp_path):
    results, run = run_default_config(main, "15_gpt4_analysis", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    # Section 3.1 at toy scale: the largest model's final loss, predicted from the five smaller ones
    # over >= 2 decades of compute, lands within REL_ERROR_MAX of what it measures; and it learned.
    assert abs(m["test/relative_error"]) <= REL_ERROR_MAX and m["test/decades_total"] >= DECADES_MIN
    assert m["test/error_over_drop"] <= ERROR_OVER_DROP_MAX  # and it found most of the drop from d32 to d48
    assert m["test/largest_loss"] <= LOSS_MAX
    losses = [m[f"test/d{d}_loss"] for d in (8, 12, 16, 24, 32, 48)]
    assert losses == sorted(losses, reverse=True), losses  # more compute, lower loss, at every step
    # The profile: the larger model is better overall beyond both bootstrap intervals.
    assert m["test/d48_all_lo"] > m["test/d8_all_hi"]
    # Contamination: every planted item found, few clean ones flagged.
    assert m["test/contamination_recall"] == 1.0 and m["test/contamination_fpr"] <= FALSE_POSITIVE_MAX
    # Calibration of the multiple-choice answers (the axes of Figure 8).
    assert m["test/ece_largest"] <= ECE_MAX
    for name in ("loss_prediction", "capability_profile", "calibration"):
        assert (run / "figures" / f"{name}.png").is_file()
