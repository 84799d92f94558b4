"""Predictable scaling (the report's Section 3.1): fit L(C) = a C^b + c to the final losses of the
smaller models of a family, and predict the final loss of the largest before looking at it.

The irreducible term c is the loss no amount of compute removes (Henighan et al., 2020): here, the
entropy of the random parts of each line (the operands of a task are unpredictable; only the answers
are). With b < 0, a C^b is the reducible part that shrinks as compute grows.

The fit runs in units of the smallest model's compute (x = C / C_0) so that a stays near the loss
scale, with scipy.optimize.curve_fit under bounds a > 0, -3 < b < 0, 0 <= c < min L.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit


def power_law_with_floor(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """L = a x^b + c."""
    return a * np.power(x, b) + c


@dataclass
class ScalingFit:
    a: float  # the reducible loss at x = 1 (the smallest model's compute)
    b: float  # the exponent (negative: loss falls with compute)
    c: float  # the irreducible loss
    c0: float  # the compute unit: x = C / c0

    def predict(self, compute) -> np.ndarray:
        """L(C) for one compute or an array of them (FLOPs)."""
        return power_law_with_floor(np.asarray(compute, dtype=float) / self.c0, self.a, self.b, self.c)


def fit_scaling_law(compute, losses) -> ScalingFit:
    """Least-squares fit of L(C) = a C^b + c to three or more (C, L) points."""
    C, L = np.asarray(compute, dtype=float), np.asarray(losses, dtype=float)
    if C.shape != L.shape or C.ndim != 1 or len(C) < 3:
        raise ValueError(f"need three or more (C, L) pairs of equal length to fit a, b, c, got {C.shape} and {L.shape}")
    if (C <= 0).any() or not np.isfinite(L).all() or (L <= 0).any():
        raise ValueError("every compute must be positive and every loss positive and finite")
    order = np.argsort(C)
    C, L = C[order], L[order]
    c0 = C[0]
    x = C / c0
    p0 = (max(L[0] - 0.9 * L.min(), 1e-3), -0.3, 0.9 * L.min())
    try:
        (a, b, c), _ = curve_fit(power_law_with_floor, x, L, p0=p0, maxfev=20_000,
                                 bounds=([1e-9, -3.0, 0.0], [np.inf, 0.0, L.min()]))
    except RuntimeError:  # no convergence (a family that did not learn): a prediction of NaN fails the claim
        a = b = c = float("nan")
    return ScalingFit(a=float(a), b=float(b), c=float(c), c0=float(c0))


def relative_error(predicted: float, measured: float) -> float:
    """(predicted - measured) / measured: signed, positive when the prediction is too pessimistic."""
    return (predicted - measured) / measured
