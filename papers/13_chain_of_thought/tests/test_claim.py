"""The paper's claim at laptop scale: the same weights, prompted with chain-of-thought exemplars, solve held-out
multi-step problems far better than when prompted with answer-only exemplars; the gap grows with the number of
steps; self-consistency does at least as well as one greedy chain. Thresholds in chain_of_thought/lightning.py,
set below the measured default run (README.md)."""

import pytest
from chain_of_thought.lightning import GAP_MIN, GROW_MIN, SC_GAIN_MIN, chain_of_thought_claim, step_counts
from chain_of_thought.train import main
from shared.testing import run_default_config

STEPS = (1, 2, 3, 4, 5)


def metrics_for(cot, direct, sc):
    m = {}
    for k, c, d, s in zip(STEPS, cot, direct, sc):
        m |= {f"test/cot_{k}step": c, f"test/direct_{k}step": d, f"test/sc_{k}step": s}
    multi = STEPS[1:]
    for kind, v in (("cot", cot), ("direct", direct), ("sc", sc)):
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
    assert m["test/sc_multi"] - m["test/cot_multi"] >= SC_GAIN_MIN
    # The model learned both styles: one-step problems, where a chain is just the answer, are solved either way,
    # and it answers in the style of its exemplars.
    assert min(m["test/cot_1step"], m["test/direct_1step"]) >= 0.8
    assert min(m["test/follows_cot"], m["test/follows_direct"]) >= 0.95
    assert (run / "figures" / "accuracy_vs_steps.png").is_file()
    # Measured on the default run (README.md): 94.0% vs 15.0% on 2+ steps, gaps 13.3, 76.0, 82.0 points; the
    # self-consistency part sits at its bound (gain 0.0 over greedy).


def test_claim_fails_when_chains_do_not_help():
    same = [0.95, 0.5, 0.3, 0.2, 0.15]
    out = chain_of_thought_claim(metrics_for(same, same, same))
    assert not out["cot_far_above_direct"] and not out["gap_grows_with_steps"] and out["holds"] is False
    # Chains help a lot but just as much at one step as at five: the gap does not grow.
    out = chain_of_thought_claim(metrics_for([0.9] * 5, [0.1] * 5, [0.9] * 5))
    assert out["cot_far_above_direct"] and not out["gap_grows_with_steps"] and out["holds"] is False
    # Everything holds but self-consistency loses to greedy chains.
    out = chain_of_thought_claim(metrics_for([1.0, 0.95, 0.9, 0.85, 0.8], [1.0, 0.4, 0.2, 0.1, 0.1],
                                             [1.0, 0.85, 0.8, 0.75, 0.7]))
    assert out["cot_far_above_direct"] and out["gap_grows_with_steps"] and not out["self_consistency_helps"]
    assert out["holds"] is False
    out = chain_of_thought_claim(metrics_for([1.0, 0.95, 0.9, 0.85, 0.8], [1.0, 0.4, 0.2, 0.1, 0.1],
                                             [1.0, 0.97, 0.93, 0.9, 0.85]))
    assert out["holds"] is True
    assert chain_of_thought_claim({})["holds"] is False  # nan everywhere
