"""The paper's claim at laptop scale: the same weights, prompted with chain-of-thought exemplars, solve held-out
multi-step problems far better than when prompted with answer-only exemplars; the gap grows with the number of
steps; the vote over sampled chains (self-consistency) is not clearly below one greedy chain. That self-consistency
beats greedy chains, the catalog's last clause, is NOT reproduced here: it is reported, with its standard error,
and left out of the verdict. Thresholds in chain_of_thought/lightning.py,
set below the measured default run (README.md)."""

import pytest
from chain_of_thought.lightning import (
    GAP_MIN,
    GROW_MIN,
    SC_LOSS_MAX,
    chain_of_thought_claim,
    paired_se,
    step_counts,
)
from chain_of_thought.train import main
from shared.testing import run_default_config

STEPS = (1, 2, 3, 4, 5)


def metrics_for(cot, direct, sc, sample=None, se=0.01):
    sample = sample or [v - 0.1 for v in sc]  # one sampled chain: by default well below the vote
    m = {"test/sc_gain_se_multi": se}
    for k, c, d, s, o in zip(STEPS, cot, direct, sc, sample):
        m |= {f"test/cot_{k}step": c, f"test/direct_{k}step": d, f"test/sc_{k}step": s, f"test/sample_{k}step": o}
    multi = STEPS[1:]
    for kind, v in (("cot", cot), ("direct", direct), ("sc", sc), ("sample", sample)):
        m[f"test/{kind}_multi"] = sum(v[1:]) / len(multi)
    return m


@pytest.mark.claim
def test_default_run_reproduces_the_claim(tmp_path):
    results, run = run_default_config(main, "13_chain_of_thought", tmp_path)
    m = results["metrics"]
    assert results["claim"]["holds"] is True, results["claim"]
    assert m["test/cot_multi"] - m["test/direct_multi"] >= GAP_MIN
    steps = step_counts(m)
    assert steps == [1, 2, 3]  # the default config's max_steps
    gap = [m[f"test/cot_{k}step"] - m[f"test/direct_{k}step"] for k in steps]
    assert gap[-1] - gap[0] >= GROW_MIN
    assert m["test/sc_multi"] - m["test/cot_multi"] >= -SC_LOSS_MAX
    assert m["test/sc_gain_se_multi"] < 0.05  # the gain over greedy chains is measured to a few points at most
    # The model learned both styles: one-step problems, where a chain is just the answer, are solved either way,
    # and it answers in the style of its exemplars.
    assert min(m["test/cot_1step"], m["test/direct_1step"]) >= 0.9  # measured 1.0 at seeds 0 and 1
    assert min(m["test/follows_cot"], m["test/follows_direct"]) >= 0.95
    assert (run / "figures" / "accuracy_vs_steps.png").is_file()
    # Measured on the default run: see the thresholds' comments in chain_of_thought/lightning.py and README.md.


def test_claim_fails_when_chains_do_not_help():
    same = [0.95, 0.5, 0.3, 0.2, 0.15]
    out = chain_of_thought_claim(metrics_for(same, same, same))
    assert not out["cot_far_above_direct"] and not out["gap_grows_with_steps"] and out["holds"] is False
    # Chains help a lot but just as much at one step as at five: the gap does not grow.
    out = chain_of_thought_claim(metrics_for([0.9] * 5, [0.1] * 5, [0.9] * 5))
    assert out["cot_far_above_direct"] and not out["gap_grows_with_steps"] and out["holds"] is False
    cot, direct = [1.0, 0.95, 0.9, 0.85, 0.8], [1.0, 0.4, 0.2, 0.1, 0.1]
    # Everything holds but the vote falls well below greedy chains.
    out = chain_of_thought_claim(metrics_for(cot, direct, [1.0, 0.85, 0.8, 0.75, 0.7]))
    assert out["cot_far_above_direct"] and out["gap_grows_with_steps"] and not out["sc_not_below_greedy"]
    assert out["holds"] is False
    # The vote no better than one sampled chain: reported, not part of the verdict.
    out = chain_of_thought_claim(metrics_for(cot, direct, cot, sample=cot))
    assert out["sc_not_below_greedy"] and not out["vote_beats_one_sample"] and out["holds"] is True
    # The vote equal to greedy chains: the claim holds, but self-consistency does not beat greedy.
    out = chain_of_thought_claim(metrics_for(cot, direct, cot))
    assert out["holds"] is True and out["self_consistency_beats_greedy"] is False
    # A gain of 5 points with a standard error of 1 point would count as beating greedy.
    out = chain_of_thought_claim(metrics_for(cot, direct, [1.0, 1.0, 0.95, 0.9, 0.85]))
    assert out["holds"] is True and out["self_consistency_beats_greedy"] is True
    assert chain_of_thought_claim({})["holds"] is False  # nan everywhere


def test_paired_standard_error():
    # 100 problems, the vote right where greedy was wrong on 3, wrong where greedy was right on 1:
    # d has mean 0.02 and variance (4 - 100 * 0.02^2) / 99 = 3.96 / 99 = 0.04, so SE = sqrt(0.04 / 100) = 0.02.
    assert abs(paired_se(3, 1, 100) - 0.02) < 1e-12
    assert paired_se(0, 0, 50) == 0.0  # the vote always agrees with greedy: no spread
    assert paired_se(1, 0, 1) != paired_se(1, 0, 1)  # nan for a single problem
