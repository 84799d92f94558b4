"""The analysis: the power-law fitter, R² in log space, the held-out prediction, sample efficiency,
the compute frontier, and the claim (which a run that learned nothing must fail)."""

import math

import numpy as np
import pytest
from scaling_laws.lightning import ScalingSweep, analyse
from scaling_laws.scaling import (
    PowerLawFit,
    compute_frontier,
    fit_power_law,
    loss_ratio_for_10x,
    r2_log,
    smooth,
    steps_to_reach,
)


def test_fitter_recovers_the_papers_law_from_exact_points():
    n = np.geomspace(1e3, 1e6, 7)
    fit = fit_power_law(n, (8.8e13 / n) ** 0.076)
    assert fit.alpha == pytest.approx(0.076, rel=1e-6)
    assert fit.n_c == pytest.approx(8.8e13, rel=1e-4)
    assert fit.r2_log == pytest.approx(1.0)


def test_fitter_recovers_a_steep_law_from_noisy_points():
    rng = np.random.default_rng(0)
    n = np.geomspace(2e3, 1e5, 6)
    loss = (3e6 / n) ** 0.2 * np.exp(rng.normal(0, 0.005, n.size))  # 0.5% noise on each loss
    fit = fit_power_law(n, loss)
    assert fit.alpha == pytest.approx(0.2, abs=0.01)
    assert math.log10(fit.n_c) == pytest.approx(math.log10(3e6), abs=0.2)
    assert 0.98 < fit.r2_log < 1.0


def test_r2_in_log_space_by_hand():
    # log L = [0, 1, 2] (L = e^0, e^1, e^2), predictions log L̂ = [0, 1, 3]: mean 1, SS_tot = 2, SS_res = 1.
    assert r2_log([1.0, math.e, math.e**2], [1.0, math.e, math.e**3]) == pytest.approx(1 - 1 / 2)
    assert r2_log([2.0, 4.0], [2.0, 4.0]) == 1.0


def test_prediction_of_a_held_out_size():
    fit = PowerLawFit(alpha=0.5, log_n_c=math.log(400.0), r2_log=1.0)
    assert fit.predict(100) == pytest.approx(2.0)  # (400 / 100)^0.5
    fitted = fit_power_law([100, 400, 1600], [2.0, 1.0, 0.5])
    assert fitted.predict(6400) == pytest.approx(0.25)  # one more factor of 4 in N halves the loss again


def test_ten_times_the_parameters():
    assert loss_ratio_for_10x(0.076) == pytest.approx(10**-0.076)
    assert 1 - loss_ratio_for_10x(0.076) == pytest.approx(0.1605, abs=1e-4)


def test_fitter_rejects_what_it_cannot_fit():
    with pytest.raises(ValueError, match="two or more"):
        fit_power_law([10], [1.0])
    with pytest.raises(ValueError, match="positive and finite"):
        fit_power_law([10, 100], [1.0, 0.0])


def test_smooth_and_steps_to_reach():
    assert smooth([4.0, 2.0, 0.0, 2.0], 2) == [4.0, 3.0, 1.0, 1.0]
    assert steps_to_reach([3.0, 2.5, 2.0, 1.5], 2.0) == 3
    assert steps_to_reach([3.0, 2.5], 2.0) is None


def test_frontier_is_the_lower_envelope():
    curves = {"small": ([1.0, 2.0, 4.0], [3.0, 2.0, 1.8]), "big": ([4.0, 8.0, 16.0], [2.5, 1.5, 1.0])}
    frontier = compute_frontier(curves, [1.0, 4.0, 8.0, 16.0, 32.0])
    assert frontier[:4].tolist() == [3.0, 1.8, 1.5, 1.0]
    assert math.isnan(frontier[4])


def synthetic_run(learned: bool):
    """Seven sizes; a run that learned follows a power law and its larger models learn faster."""
    n = {f"d{d}": 12 * 2 * d * d for d in (8, 12, 16, 24, 32, 48, 64)}
    if learned:
        losses = {k: (1e9 / v) ** 0.05 for k, v in n.items()}
        history = {k: [3.6 - (3.6 - losses[k]) * min(1.0, s / (50 + 300 * (1 - i / 7))) for s in range(1, 401)]
                   for i, k in enumerate(n)}
    else:  # every model stuck near ln 36: the losses are noise around one value
        rng = np.random.default_rng(1)
        losses = {k: 3.58 + 0.01 * rng.standard_normal() for k in n}
        history = {k: [3.58 + 0.01 * rng.standard_normal() for _ in range(400)] for k in n}
    return losses, n, history


def test_analysis_of_a_run_that_follows_the_law_passes_the_claim():
    out = analyse(*synthetic_run(learned=True), tokens_per_step=1024, hold_out=1, smooth_window=20)
    m = out["metrics"]
    assert m["alpha_N"] == pytest.approx(0.05, rel=1e-5) and m["r2_log"] == pytest.approx(1.0)
    assert out["held"] == ["d64"] and m["holdout_relative_error"] == pytest.approx(0.0, abs=1e-6)
    assert m["token_ratio"] > 1 and m["tokens_largest"] < m["tokens_smallest"]
    # Loss 3.0 is above LEARNED_LOSS_MAX: pretend the largest model reached 2.0, then every check holds.
    claim = ScalingSweep.claim({f"test/{k}": v for k, v in {**m, "largest_loss": 2.0}.items()})
    assert claim["holds"] is True, claim


def test_a_run_that_learned_nothing_fails_the_claim():
    out = analyse(*synthetic_run(learned=False), tokens_per_step=1024, hold_out=1, smooth_window=20)
    claim = ScalingSweep.claim({f"test/{k}": v for k, v in out["metrics"].items()})
    assert claim["holds"] is False
    assert claim["checks"]["R^2 of the log-log fit"]["holds"] is False
    assert claim["checks"]["largest model's held-out loss"]["holds"] is False
