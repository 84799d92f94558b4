"""The paper's claim at laptop scale: the default run (digits, 1,575 steps per model on a 2-core CPU)
shows

1. the ViT learns the images: test accuracy >= CLAIM_THRESHOLD with the full training set;
2. with little data the small CNN is clearly better (its lead at 10% >= CNN_LEAD_MIN);
3. the CNN's lead shrinks as the data grows (at 100% it is at least GAP_SHRINK_MIN smaller).

The measured default run (`OMP_NUM_THREADS=1 uv run papers train 16 --run.threads 1`; README.md) passed
all three: ViT 0.9528 (one test image over the bar), CNN lead 17.5 points at 10% and 4.2 at 100% (a
shrink of 13.3).
"""

import pytest
from shared.testing import run_default_config
from vision_transformer.lightning import CLAIM_THRESHOLD, CNN_LEAD_MIN, GAP_SHRINK_MIN
from vision_transformer.train import main


@pytest.mark.claim
def test_default_run_learns_digits_and_the_cnn_lead_shrinks_with_data(tmp_path):
    results, run = run_default_config(main, "16_vision_transformer", tmp_path)
    m = results["metrics"]
    assert m["test/accuracy"] >= CLAIM_THRESHOLD, m
    lead_small = m["test/cnn_accuracy_frac_10"] - m["test/vit_accuracy_frac_10"]
    lead_full = m["test/cnn_accuracy_frac_100"] - m["test/vit_accuracy_frac_100"]
    assert lead_small >= CNN_LEAD_MIN, (lead_small, m)
    assert lead_full <= lead_small - GAP_SHRINK_MIN, (lead_small, lead_full, m)
    assert results["claim"]["holds"] is True, results["claim"]
    for name in ("data_efficiency.png", "attention_rollout.png", "position_similarity.png"):
        assert (run / "figures" / name).is_file(), name
