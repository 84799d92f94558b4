"""Section 5.1 and Table 1: what each normalisation is invariant to, checked numerically.

For one layer h = norm(x W) the paper asks which changes of the weights W [d_in, d_model] or of
the data x [batch, d_in] leave the normalised summed inputs unchanged. Each transformation below
is applied, the layer is run again, and the two outputs are compared. The paper's answers:

                 W re-scale  W re-centre  w_i re-scale  data re-scale  data re-centre  one case re-scale
    batch norm   invariant   no           invariant     invariant      invariant       no
    weight norm  invariant   no           invariant     no             no              no
    layer norm   invariant   invariant    no            invariant      no              invariant

Everything runs in float64 with eps = 0, so "invariant" means equal to ~1e-12, not merely close.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from layer_norm.model import LayerNormFunction

TRANSFORMS = ("weight matrix re-scaling", "weight matrix re-centering", "weight vector re-scaling",
              "dataset re-scaling", "dataset re-centering", "single training case re-scaling")

# The paper's Table 1: True where it says "invariant", False where it says "no".
TABLE_1 = {
    "batch": dict(zip(TRANSFORMS, (True, False, True, True, True, False))),
    "weight": dict(zip(TRANSFORMS, (True, False, True, False, False, False))),
    "layer": dict(zip(TRANSFORMS, (True, True, False, True, False, True))),
}


def normalised_summed_inputs(kind: str, x: Tensor, W: Tensor) -> Tensor:
    """The layer's normalised summed inputs, before gain, bias and non-linearity: [batch, d_model].

    batch:  (a - mean over the batch) / std over the batch, per unit
    weight: x v_i / ||v_i||, each unit's weight vector (a column of W) scaled to length 1
    layer:  (a - mean over the units) / std over the units, per case
    """
    a = x @ W  # [batch, d_model]
    if kind == "batch":
        return (a - a.mean(0)) / a.std(0, unbiased=False)
    if kind == "weight":
        return x @ (W / W.norm(dim=0))
    if kind == "layer":
        return LayerNormFunction.apply(a, None, None, 0.0)
    raise ValueError(f"kind must be 'batch', 'weight' or 'layer', got {kind!r}")


def transformations(d_in: int, d_model: int, seed: int = 0) -> dict[str, Callable[[Tensor, Tensor], tuple]]:
    """Each of the paper's six changes as a function (x, W) -> (x', W'), with random but fixed amounts."""
    g = torch.Generator().manual_seed(seed)
    delta = 2.5  # a scale factor; positive, since a negative one flips the sign of every normalised input
    gamma_w = torch.randn(d_in, 1, generator=g, dtype=torch.float64)  # one vector added to every column of W
    gamma_x = torch.randn(d_in, generator=g, dtype=torch.float64)  # one vector added to every case
    return {
        "weight matrix re-scaling": lambda x, W: (x, delta * W),
        # W + gamma 1^T: every unit's weight vector moves by the same gamma, so every a_i of a case
        # moves by the same amount x . gamma.
        "weight matrix re-centering": lambda x, W: (x, W + gamma_w),
        "weight vector re-scaling": lambda x, W: (x, torch.cat([delta * W[:, :1], W[:, 1:]], dim=1)),
        "dataset re-scaling": lambda x, W: (delta * x, W),
        "dataset re-centering": lambda x, W: (x + gamma_x, W),
        "single training case re-scaling": lambda x, W: (torch.cat([delta * x[:1], x[1:]]), W),
    }


def is_invariant(kind: str, transform: str, batch: int = 8, d_in: int = 6, d_model: int = 5, seed: int = 0) -> bool:
    """Run the layer before and after the change; True if every output is unchanged (to 1e-9)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, d_in, generator=g, dtype=torch.float64)
    W = torch.randn(d_in, d_model, generator=g, dtype=torch.float64)
    x2, W2 = transformations(d_in, d_model, seed)[transform](x, W)
    before, after = normalised_summed_inputs(kind, x, W), normalised_summed_inputs(kind, x2, W2)
    return torch.allclose(before, after, rtol=0.0, atol=1e-9)


def measure_table_1(seed: int = 0) -> dict[str, dict[str, bool]]:
    """The whole table, measured: {norm: {transformation: invariant?}}."""
    return {kind: {t: is_invariant(kind, t, seed=seed) for t in TRANSFORMS} for kind in TABLE_1}


def table_1_agreement(seed: int = 0) -> float:
    """Fraction of the table's 18 cells where the measurement agrees with the paper (1.0 = all)."""
    measured = measure_table_1(seed)
    cells = [measured[k][t] == TABLE_1[k][t] for k in TABLE_1 for t in TRANSFORMS]
    return sum(cells) / len(cells)
