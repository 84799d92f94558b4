"""The diffusion process: noise schedules, the forward process q(x_t | x_0), the training loss L_simple,
and three samplers: DDPM's ancestral step, DDIM's deterministic step, and both with classifier guidance.

Steps are indexed t = 0..T-1 as in the released code and diffusers (the papers write 1..T): ᾱ_t is the
product of α_0..α_t, so ᾱ_0 = 1 - β_0 is the first, least noisy step.

Ho, Jain and Abbeel (2020), arXiv 2006.11239: Section 2 (equations 4, 6, 7, 11), Section 3.4 (L_simple),
Algorithms 1 and 2. Nichol and Dhariwal (2021), arXiv 2102.09672: the cosine schedule. Song, Meng and Ermon
(2021), arXiv 2010.02502: DDIM. Dhariwal and Nichol (2021), arXiv 2105.05233: Algorithms 1 and 2 (guidance).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> Tensor:
    """DDPM's schedule (Section 4): β rises linearly from 1e-4 to 0.02 over T = 1000 steps. [T] float64."""
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def cosine_alpha_bar(u: float, s: float = 0.008) -> float:
    """f(u) = cos²(π/2 · (u + s) / (1 + s)) at u = t / T (Nichol and Dhariwal 2021, equation 17)."""
    return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2


def cosine_betas(T: int, max_beta: float = 0.999) -> Tensor:
    """β_t = 1 - ᾱ(t+1) / ᾱ(t) with ᾱ(u) = f(u) / f(0), clipped at 0.999 so that the last steps near u = 1
    do not become singular (Nichol and Dhariwal, Section 3.2). [T] float64."""
    betas = [min(1 - cosine_alpha_bar((i + 1) / T) / cosine_alpha_bar(i / T), max_beta) for i in range(T)]
    return torch.tensor(betas, dtype=torch.float64)


SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas}


class Diffusion(nn.Module):
    """The fixed quantities of a schedule, kept as float32 buffers (computed in float64 first):

    β_t, α_t = 1 - β_t, ᾱ_t = ∏_{s<=t} α_s, and the posterior variance β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t
    (DDPM equation 7; with ᾱ_{-1} = 1, so β̃_0 = 0).
    """

    def __init__(self, T: int = 1000, schedule: str = "cosine", betas: Tensor | None = None,
                 timestep_map: Tensor | None = None) -> None:
        super().__init__()
        if T < 2:
            raise ValueError(f"model.T must be >= 2, got {T}")
        if schedule not in SCHEDULES:
            raise ValueError(f"model.schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
        self.schedule = schedule
        betas = SCHEDULES[schedule](T) if betas is None else betas  # [T] float64
        self.T = len(betas)
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, dim=0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        posterior_variance = (1 - alpha_bar_prev) / (1 - alpha_bar) * betas
        self._alpha_bar64 = alpha_bar
        # Every coefficient is formed in float64 and only then stored as float32: 1 - ᾱ_t in float32 near
        # t = 0 (ᾱ_0 = 0.9999) keeps only about 3 significant digits (notes.md, numerical considerations).
        for name, value in (
            ("betas", betas), ("alphas", alphas), ("alpha_bar", alpha_bar), ("alpha_bar_prev", alpha_bar_prev),
            ("posterior_variance", posterior_variance),
            ("sqrt_alpha_bar", alpha_bar.sqrt()), ("sqrt_one_minus_alpha_bar", (1 - alpha_bar).sqrt()),
            ("posterior_coef_x0", alpha_bar_prev.sqrt() * betas / (1 - alpha_bar)),
            ("posterior_coef_xt", alphas.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar)),
            ("eps_coef", betas / (1 - alpha_bar).sqrt()), ("sqrt_recip_alphas", alphas.rsqrt()),
        ):
            self.register_buffer(name, value.float(), persistent=False)
        # Which step of the trained model each step of this chain is (the identity unless respaced).
        tmap = torch.arange(self.T) if timestep_map is None else timestep_map
        self.register_buffer("timestep_map", tmap, persistent=False)

    def respaced(self, n_steps: int) -> Diffusion:
        """A chain of n_steps evenly strided steps with the same ᾱ at those steps (Nichol and Dhariwal 2021,
        Section 4): β_i = 1 - ᾱ_{S_i} / ᾱ_{S_(i-1)}. Ancestral sampling through it costs n_steps model calls."""
        if not 1 <= n_steps <= self.T:
            raise ValueError(f"model.ancestral_steps must be in 1..T={self.T}, got {n_steps}")
        keep = torch.tensor(self.ddim_timesteps(n_steps)[::-1])  # S_0 < S_1 < ... (S_0 = 0)
        ab = self._alpha_bar64[keep]
        betas = 1 - ab / torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        return Diffusion(self.T, self.schedule, betas=betas, timestep_map=keep).to(self.betas.device)

    @staticmethod
    def _at(values: Tensor, t: Tensor) -> Tensor:
        return values[t][:, None, None, None]  # [batch] -> [batch, 1, 1, 1], to scale images

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε: q(x_t | x_0) in closed form (DDPM equation 4). [batch, c, h, w]."""
        return self._at(self.sqrt_alpha_bar, t) * x0 + self._at(self.sqrt_one_minus_alpha_bar, t) * noise

    def loss_simple(self, eps_model: Callable[[Tensor, Tensor], Tensor], x0: Tensor,
                    generator: torch.Generator | None = None) -> Tensor:
        """L_simple = E_{t, x_0, ε} ||ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)||² (DDPM equation 14, Algorithm 1),
        averaged over pixels. t uniform over 0..T-1, ε standard normal, both drawn from `generator`
        (on x0's device; None: torch's global generator)."""
        t = torch.randint(0, self.T, (x0.shape[0],), device=x0.device, generator=generator)  # [batch]
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        return (noise - eps_model(self.q_sample(x0, t, noise), t)).pow(2).mean()

    def predict_x0(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x̂_0 = (x_t - √(1 - ᾱ_t) ε) / √ᾱ_t: equation 4 solved for x_0."""
        return (x_t - self._at(self.sqrt_one_minus_alpha_bar, t) * eps) / self._at(self.sqrt_alpha_bar, t)

    def ddpm_mean(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """μ_θ(x_t, t) = (x_t - β_t / √(1 - ᾱ_t) · ε_θ) / √α_t (DDPM equation 11)."""
        return (x_t - self._at(self.eps_coef, t) * eps) * self._at(self.sqrt_recip_alphas, t)

    def posterior_mean(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """μ̃_t(x_t, x_0) = √ᾱ_{t-1} β_t / (1 - ᾱ_t) · x_0 + √α_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · x_t (DDPM eq. 7)."""
        return self._at(self.posterior_coef_x0, t) * x0 + self._at(self.posterior_coef_xt, t) * x_t

    def ddpm_step(self, x_t: Tensor, t: int, eps: Tensor, noise: Tensor, grad_log_p: Tensor | None = None,
                  scale: float = 0.0, clip: bool = True) -> Tensor:
        """One ancestral step x_t -> x_{t-1} ~ N(μ + s Σ ∇ log p(y | x_t), Σ) with Σ = β̃_t I
        (DDPM Algorithm 2; the mean shift is Dhariwal and Nichol's Algorithm 1). No noise at t = 0.

        μ is the posterior mean at the predicted x̂_0, which equals equation 11's ddpm_mean. With `clip`,
        x̂_0 is clipped to the data range [-1, 1] first, as the released samplers do: at the cosine
        schedule's first steps β_t is 0.999 and equation 11 divides by √α_t ≈ 0.03, so an unclipped
        chain can blow up there (measured: pixels of ±3,000 on our digits)."""
        tt = torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long)
        x0 = self.predict_x0(x_t, tt, eps)
        mean = self.posterior_mean(x_t, tt, x0.clamp(-1, 1) if clip else x0)
        var = self._at(self.posterior_variance, tt)  # Σ = σ_t² = β̃_t
        if grad_log_p is not None:
            mean = mean + scale * var * grad_log_p  # Algorithm 1: μ + s Σ ∇_{x_t} log p_φ(y | x_t)
        return mean + var.sqrt() * noise if t > 0 else mean

    def ddim_step(self, x_t: Tensor, t: int, t_prev: int, eps: Tensor) -> Tensor:
        """One deterministic DDIM step (η = 0, Song et al. equation 12): predict x̂_0, then re-noise it to
        step t_prev with the same ε: x_{t_prev} = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev) ε. A negative t_prev means
        the end of sampling, where ᾱ_prev = ᾱ_0 (diffusers' DDIMScheduler with set_alpha_to_one=False)."""
        tt = torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long)
        x0 = self.predict_x0(x_t, tt, eps)
        prev = t_prev if t_prev >= 0 else 0
        return self.sqrt_alpha_bar[prev] * x0 + self.sqrt_one_minus_alpha_bar[prev] * eps

    def ddim_timesteps(self, n_steps: int) -> list[int]:
        """n_steps evenly strided steps T - stride, ..., stride, 0 with stride T // n_steps (diffusers'
        "leading" spacing), largest first."""
        if not 1 <= n_steps <= self.T:
            raise ValueError(f"the number of DDIM steps must be in 1..T={self.T}, got {n_steps}")
        stride = self.T // n_steps
        return [i * stride for i in range(n_steps)][::-1]


def class_log_prob_grad(classifier: nn.Module, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
    """∇_{x_t} log p_φ(y | x_t, t): the gradient of the requested class's log-softmax, image by image.
    Summing over the batch is safe: image i's log-probability depends on image i only."""
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        log_p = torch.log_softmax(classifier(x, t), dim=-1)  # [batch, n_classes]
        selected = log_p.gather(1, y[:, None]).sum()
        return torch.autograd.grad(selected, x)[0]  # [batch, c, h, w]


@torch.no_grad()
def sample_ddpm(diffusion: Diffusion, eps_model: nn.Module, shape: tuple[int, ...], generator: torch.Generator,
                classifier: nn.Module | None = None, y: Tensor | None = None, scale: float = 0.0) -> Tensor:
    """Ancestral sampling through every step of `diffusion` (DDPM Algorithm 2; all T of them, or the steps of
    a `respaced` chain), guided by the classifier when `scale` > 0 (Dhariwal and Nichol Algorithm 1).
    Noise comes from `generator` (on the CPU), so a seed fixes the samples."""
    device = diffusion.betas.device
    x = torch.randn(shape, generator=generator).to(device)  # x_T ~ N(0, I)
    for t in range(diffusion.T - 1, -1, -1):
        tt = diffusion.timestep_map[torch.full((shape[0],), t, device=device, dtype=torch.long)]  # model's step
        eps = eps_model(x, tt)
        grad = class_log_prob_grad(classifier, x, tt, y) if scale > 0 else None
        x = diffusion.ddpm_step(x, t, eps, torch.randn(shape, generator=generator).to(device), grad, scale)
    return x


@torch.no_grad()
def sample_ddim(diffusion: Diffusion, eps_model: nn.Module, shape: tuple[int, ...], generator: torch.Generator,
                n_steps: int, classifier: nn.Module | None = None, y: Tensor | None = None,
                scale: float = 0.0) -> Tensor:
    """DDIM sampling in n_steps deterministic steps from x_T ~ N(0, I). With guidance (Dhariwal and Nichol
    Algorithm 2) the predicted noise becomes ε̂ = ε_θ(x_t) - s √(1 - ᾱ_t) ∇_{x_t} log p_φ(y | x_t)."""
    device = diffusion.betas.device
    x = torch.randn(shape, generator=generator).to(device)
    steps = diffusion.ddim_timesteps(n_steps)
    for i, t in enumerate(steps):
        tt = torch.full((shape[0],), t, device=device, dtype=torch.long)
        eps = eps_model(x, tt)
        if scale > 0:
            eps = eps - scale * diffusion.sqrt_one_minus_alpha_bar[t] * class_log_prob_grad(classifier, x, tt, y)
        x = diffusion.ddim_step(x, t, steps[i + 1] if i + 1 < len(steps) else -1, eps)
    return x
