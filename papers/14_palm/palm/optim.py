"""PaLM's optimizer (Section 5, "Training setup"): Adafactor without factorization.

The paper describes it as "effectively equivalent to Adam with parameter scaling": the step of
every tensor is multiplied by that tensor's root-mean-square, so a matrix initialised at
N(0, 1/n_in) takes small steps while embeddings and LayerNorm scales (RMS about 1) take larger
ones, without a hand-tuned learning rate per kind of parameter. For step k (from 1):

    lr_k   = lr * min(1, sqrt(constant_steps / k))   1e-2 for 10,000 steps, then 1/sqrt(k)
    beta2_k = 1 - k^-0.8                               second-moment average, no bias correction needed
    v = beta2_k v + (1 - beta2_k) g^2
    u = g / sqrt(v),  u = u / max(1, RMS(u) / d)       update clipping, d = 1
    m = beta1 m + (1 - beta1) u                        momentum, beta1 = 0.9
    theta = theta - lr_k * max(eps2, RMS(theta)) * m - lr_k^2 * theta   ("dynamic weight decay of lr^2")
"""

from __future__ import annotations

import torch
from torch import Tensor


def palm_lr(step: int, lr: float = 1e-2, constant_steps: int = 10_000) -> float:
    """The paper's schedule: lr for the first `constant_steps` steps, then lr * sqrt(constant_steps / k).

    With lr = 1e-2 and 10,000 steps, the decay is exactly 1/sqrt(k) (1e-2 = 1/sqrt(10,000)).
    """
    step = max(step, 1)
    return lr * min(1.0, (constant_steps / step) ** 0.5)


def rms(x: Tensor) -> Tensor:
    return x.pow(2).mean().sqrt()


class PaLMAdafactor(torch.optim.Optimizer):
    """Unfactored Adafactor with momentum, parameter scaling, update clipping and lr^2 weight decay.

    `lr` is the learning rate before the schedule: the step count k lives in the optimizer state,
    so the schedule resumes exactly from a checkpoint.
    """

    def __init__(self, params, lr: float = 1e-2, constant_steps: int = 10_000, beta1: float = 0.9,
                 decay_exponent: float = 0.8, clip_threshold: float = 1.0, eps1: float = 1e-30,
                 eps2: float = 1e-3, weight_decay: bool = True) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if constant_steps < 1:
            raise ValueError(f"constant_steps must be >= 1, got {constant_steps}")
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"beta1 must be in [0, 1), got {beta1}")
        defaults = dict(lr=lr, constant_steps=constant_steps, beta1=beta1, decay_exponent=decay_exponent,
                        clip_threshold=clip_threshold, eps1=eps1, eps2=eps2, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.float()
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["v"] = torch.zeros_like(g)
                    state["m"] = torch.zeros_like(g)
                state["step"] += 1
                k = state["step"].item()
                lr = palm_lr(int(k), group["lr"], group["constant_steps"])
                beta2 = 1.0 - k ** -group["decay_exponent"]  # 0 at k = 1: v starts as g^2 exactly
                v, m = state["v"], state["m"]
                v.mul_(beta2).add_(g * g + group["eps1"], alpha=1.0 - beta2)
                u = g / v.sqrt()
                u = u / (rms(u) / group["clip_threshold"]).clamp(min=1.0)  # tensor ops: no GPU sync
                m.mul_(group["beta1"]).add_(u, alpha=1.0 - group["beta1"])
                scale = rms(p.float()).clamp(min=group["eps2"])  # parameter scaling
                if group["weight_decay"]:
                    p.mul_(1.0 - lr**2)
                p.add_((m * scale).to(p.dtype), alpha=-lr)
        return loss
