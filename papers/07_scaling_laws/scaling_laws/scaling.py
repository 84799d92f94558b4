"""The analysis the paper does on its runs: fit L(N) = (N_c / N)^α_N, judge the fit in log space,
predict a held-out size, and read sample efficiency and the compute frontier off learning curves.

Kaplan et al. (2020), Section 1.2, equation (1.1): L(N) = (N_c / N)^α_N with α_N ≈ 0.076 and
N_c ≈ 8.8 × 10^13 non-embedding parameters, L in nats per token on held-out WebText2.
Taking logs makes the law a straight line, log L = α_N log N_c - α_N log N, so the fit is a
least-squares line in log-log space (scipy.optimize.curve_fit), and R² is computed there too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

PAPER_ALPHA_N = 0.076  # Section 1.2, eq. (1.1)
PAPER_N_C = 8.8e13  # non-embedding parameters


def log_power_law(log_n: np.ndarray, alpha: float, log_n_c: float) -> np.ndarray:
    """log L = α (log N_c - log N): the power law (N_c / N)^α, in natural logs."""
    return alpha * (log_n_c - log_n)


@dataclass
class PowerLawFit:
    alpha: float  # α_N: how fast loss falls with N
    log_n_c: float  # ln N_c, N_c being the size at which the law would reach a loss of 1 nat
    r2_log: float  # R² of log L against the fitted line

    @property
    def n_c(self) -> float:
        """N_c itself (inf when a nearly flat fit puts it beyond floating point)."""
        return float(np.exp(np.float64(self.log_n_c))) if self.log_n_c < 709 else float("inf")

    def predict(self, n) -> np.ndarray:
        """L(N) = (N_c / N)^α for one N or an array of them, computed in logs."""
        return np.exp(log_power_law(np.log(np.asarray(n, dtype=float)), self.alpha, self.log_n_c))


def r2_log(losses, predicted) -> float:
    """R² in log space: 1 - Σ (log L - log L̂)² / Σ (log L - mean log L)²."""
    y, y_hat = np.log(np.asarray(losses, dtype=float)), np.log(np.asarray(predicted, dtype=float))
    ss_res = float(np.sum((y - y_hat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def fit_power_law(n_params, losses) -> PowerLawFit:
    """Least-squares fit of log L = α (log N_c - log N) to two or more (N, L) points."""
    n, loss = np.asarray(n_params, dtype=float), np.asarray(losses, dtype=float)
    if n.shape != loss.shape or n.ndim != 1 or len(n) < 2:
        raise ValueError(f"need two or more (N, L) pairs of equal length, got {n.shape} and {loss.shape}")
    if (n <= 0).any() or (loss <= 0).any() or not np.isfinite(loss).all():
        raise ValueError("every N and every loss must be positive and finite for a log-log fit")
    log_n, log_l = np.log(n), np.log(loss)
    # Start from the straight line through the end points; curve_fit refines it (it is exact for a line).
    alpha0 = max((log_l[0] - log_l[-1]) / (log_n[-1] - log_n[0]), 1e-3) if log_n[-1] != log_n[0] else 0.1
    p0 = (alpha0, float(np.mean(log_n + log_l / alpha0)))
    (alpha, log_n_c), _ = curve_fit(log_power_law, log_n, log_l, p0=p0, maxfev=10_000)
    fit = PowerLawFit(alpha=float(alpha), log_n_c=float(log_n_c), r2_log=0.0)
    fit.r2_log = r2_log(loss, fit.predict(n))
    return fit


def loss_ratio_for_10x(alpha: float) -> float:
    """L(10 N) / L(N) = 10^(-α): what ten times the parameters buys, as a factor on the loss."""
    return 10.0 ** (-alpha)


def smooth(values, window: int) -> list[float]:
    """Trailing moving average over `window` steps (the first steps average what exists)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def steps_to_reach(curve, target: float) -> int | None:
    """The first step (1-based) at which `curve` is at or below `target`; None if it never is."""
    for i, value in enumerate(curve):
        if value <= target:
            return i + 1
    return None


def compute_frontier(curves: dict[str, tuple[list[float], list[float]]], grid) -> np.ndarray:
    """The compute-efficient frontier: at each compute C on `grid`, the lowest loss any model had
    reached by spending C (each curve is (compute so far, loss), compute increasing). NaN where no
    model has spent that much yet. This is the lower envelope of Figure 2's right panel."""
    grid = np.asarray(grid, dtype=float)
    best = np.full(grid.shape, np.nan)
    for compute, loss in curves.values():
        at = np.interp(grid, compute, loss, left=np.nan, right=np.nan)
        best = np.fmin(best, at)
    return best
