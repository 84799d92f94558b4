"""Parity with diffusers' DDPMScheduler and DDIMScheduler (random inputs, fp32): the schedules, add_noise,
and one reverse step given the same model output. diffusers is a test-only reference (root dev group)."""

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from diffusion_models.diffusion import Diffusion

REF_NAME = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


def ddpm_ref(schedule: str, clip: bool = False) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule=REF_NAME[schedule], beta_start=1e-4, beta_end=0.02,
                         clip_sample=clip, variance_type="fixed_small", prediction_type="epsilon")


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedule_matches_diffusers(schedule):
    ref, ours = ddpm_ref(schedule), Diffusion(1000, schedule)
    torch.testing.assert_close(ours.betas, ref.betas.float(), atol=1e-7, rtol=0)
    torch.testing.assert_close(ours.alpha_bar, ref.alphas_cumprod.float(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_add_noise_matches_diffusers(schedule):
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(6, 1, 8, 8, generator=g), torch.randn(6, 1, 8, 8, generator=g)
    t = torch.tensor([0, 1, 250, 499, 800, 999])
    expected = ddpm_ref(schedule).add_noise(x0, noise, t)
    torch.testing.assert_close(Diffusion(1000, schedule).q_sample(x0, t, noise), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("t", [999, 500, 10, 0])
def test_one_ancestral_step_matches_diffusers(schedule, clip, t):
    g = torch.Generator().manual_seed(t)
    x_t, eps = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)
    ref = ddpm_ref(schedule, clip)
    # diffusers draws its noise with torch.randn from the generator we hand it: draw the same noise here.
    expected = ref.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(7))
    ours = Diffusion(1000, schedule).ddpm_step(x_t, t, eps, noise, clip=clip)
    # 5e-5, not 1e-5: both sides round in float32, and an unclipped step amplifies that rounding by up to
    # 1/√ᾱ_t (cosine, t = 999: 1/√α_t ≈ 32). Measured worst case: 3.7e-5 on values near 2.5.
    torch.testing.assert_close(ours, expected, atol=5e-5, rtol=5e-5)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddim_timesteps_and_steps_match_diffusers(schedule):
    ref = DDIMScheduler(num_train_timesteps=1000, beta_schedule=REF_NAME[schedule], beta_start=1e-4, beta_end=0.02,
                        clip_sample=False, set_alpha_to_one=False, prediction_type="epsilon")
    ref.set_timesteps(25)
    ours = Diffusion(1000, schedule)
    steps = ours.ddim_timesteps(25)
    assert steps == ref.timesteps.tolist() and steps[0] == 960 and steps[-1] == 0
    g = torch.Generator().manual_seed(1)
    for i, t in enumerate(steps):
        x_t, eps = torch.randn(3, 1, 8, 8, generator=g), torch.randn(3, 1, 8, 8, generator=g)
        expected = ref.step(eps, t, x_t, eta=0.0).prev_sample
        t_prev = steps[i + 1] if i + 1 < len(steps) else -1
        torch.testing.assert_close(ours.ddim_step(x_t, t, t_prev, eps), expected, atol=1e-5, rtol=1e-5)

