"""The paper's claim at laptop scale: the default config, run end to end, reproduces it."""

import pytest
from instructgpt.lightning import KL_BOUND, RM_ACCURACY, WIN_RATE
from instructgpt.train import main
from shared.testing import run_default_config


@pytest.mark.claim
def test_default_run_rm_ranks_pairs_and_labeler_prefers_ppo_at_bounded_kl(tmp_path):
    results, run = run_default_config(main, "06_instructgpt", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert m["test/rm_accuracy"] >= RM_ACCURACY  # the reward model orders held-out pairs as the labeler does
    assert m["test/win_rate"] >= WIN_RATE  # the labeler prefers PPO's responses to SFT's on held-out prompts
    assert m["test/kl"] <= KL_BOUND  # ... while PPO stays near the SFT policy
    assert m["test/reward"] > m["test/reward_sft"]  # PPO raised what it optimized
    assert m["test/concise"] > m["test/concise_sft"]  # by dropping the demonstrators' repetition
    assert (run / "figures" / "reward_vs_kl.png").is_file()
