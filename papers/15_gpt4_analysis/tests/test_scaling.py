"""The loss-prediction fit L(C) = a C^b + c: it recovers a known law, predicts beyond its points, and
refuses what it cannot fit."""

import numpy as np
import pytest
from gpt4_analysis.scaling import fit_scaling_law, power_law_with_floor, relative_error


def test_fit_recovers_a_known_law_and_predicts_the_next_point():
    compute = np.geomspace(1e9, 1e11, 5)
    a, b, c = 0.8, -0.35, 1.15
    losses = power_law_with_floor(compute / 1e9, a, b, c)
    fit = fit_scaling_law(compute, losses)
    assert fit.a == pytest.approx(a, rel=1e-4) and fit.b == pytest.approx(b, rel=1e-4)
    assert fit.c == pytest.approx(c, rel=1e-4)
    big = 1e12  # ten times beyond the last fitted point
    assert fit.predict(big) == pytest.approx(power_law_with_floor(big / 1e9, a, b, c), rel=1e-5)


def test_a_pure_power_law_through_the_origin_is_not_a_floor():
    # Without a floor the best c is at its lower bound, 0, and the exponent is the slope in log-log.
    compute = np.geomspace(1e9, 1e11, 5)
    fit = fit_scaling_law(compute, 3.0 * (compute / 1e9) ** -0.1)
    assert fit.c == pytest.approx(0.0, abs=1e-3) and fit.b == pytest.approx(-0.1, rel=1e-3)


def test_the_fit_never_sees_points_it_is_not_given():
    compute = np.geomspace(1e9, 1e12, 6)
    losses = power_law_with_floor(compute / 1e9, 0.8, -0.35, 1.15)
    a = fit_scaling_law(compute[:-1], losses[:-1]).predict(compute[-1])
    b = fit_scaling_law(compute[:-1], losses[:-1]).predict(compute[-1])
    assert a == b


def test_relative_error_is_signed_by_the_prediction():
    assert relative_error(1.1, 1.0) == pytest.approx(0.1)
    assert relative_error(0.9, 1.0) == pytest.approx(-0.1)


def test_too_few_or_bad_points_are_clear_errors():
    with pytest.raises(ValueError, match="three or more"):
        fit_scaling_law([1.0, 2.0], [2.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        fit_scaling_law([1.0, -2.0, 3.0], [2.0, 1.5, 1.2])
