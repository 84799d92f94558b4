"""The numbers of notes.md's worked examples, recomputed from the code, and the maths-to-code table."""

import torch
import yaml
from diffusion_models import diffusion, evaluate, lightning, model
from diffusion_models.diffusion import Diffusion
from diffusion_models.model import NoisyClassifier, UNet, UNetConfig
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)


def test_pinned_alpha_bar_values():
    lin, cos = Diffusion(1000, "linear"), Diffusion(1000, "cosine")
    assert f"{lin.alpha_bar[499].item():.4f}" == "0.0786" and f"{cos.alpha_bar[499].item():.4f}" == "0.4938"
    assert f"{lin.alpha_bar[999].item():.4g}" == "4.036e-05" and f"{cos.alpha_bar[999].item():.4g}" == "2.429e-09"
    assert f"{cos.alpha_bar[0].item():.6f}" == "0.999959"
    TEXT.in_notes("linear 0.0786, cosine 0.4938", "linear 4.036e-05, cosine 2.429e-09", "cosine ᾱ_0 = 0.999959",
                  f"{lin.sqrt_alpha_bar[499].item():.4f} + {lin.sqrt_one_minus_alpha_bar[499].item():.4f}",
                  f"keeps {cos.sqrt_alpha_bar[499].item():.4f} of it")


def toy_chain() -> Diffusion:
    """Section 4.2's two-step chain: β = (0.36, 0.4375), so ᾱ = (0.64, 0.36) with easy square roots."""
    return Diffusion(2, betas=torch.tensor([0.36, 0.4375], dtype=torch.float64))


def toy_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The worked example's one pixel: x_1 = 0.5, the network's ε = 0.25, the guide's gradient g = 0.5."""
    return torch.full((1, 1, 1, 1), 0.5), torch.full((1, 1, 1, 1), 0.25), torch.full((1, 1, 1, 1), 0.5)


def test_one_guided_ddim_step_by_hand():
    d = toy_chain()
    assert torch.allclose(d.alpha_bar, torch.tensor([0.64, 0.36]))
    x1, eps, g, s = *toy_inputs(), 1.0
    unguided = d.ddim_step(x1, 1, 0, eps).item()
    eps_hat = eps - s * d.sqrt_one_minus_alpha_bar[1] * g  # what sample_ddim does with the guide's gradient
    x0_hat = d.predict_x0(x1, torch.tensor([1]), eps_hat).item()
    guided = d.ddim_step(x1, 1, 0, eps_hat).item()
    assert abs(unguided - 0.55) < 1e-6 and abs(eps_hat.item() + 0.15) < 1e-6
    TEXT.in_notes(f"x_0 = 0.8 \\cdot 0.5 + 0.6 \\cdot 0.25 = {unguided:.2f}",
                  f"$\\hat\\varepsilon = 0.25 - 1 \\cdot 0.8 \\cdot 0.5 = {eps_hat.item():.2f}$",
                  f"= {x0_hat:.4f}$ and $x_0 = 0.8 \\cdot {x0_hat:.4f} + 0.6 \\cdot (-0.15) = {guided:.4f}$",
                  f"Guidance moved the pixel by ${guided:.4f} - 0.55 = {guided - unguided:.4f}$")


def test_the_same_step_ancestral():
    d, t = toy_chain(), torch.tensor([1])
    x1, eps, g = toy_inputs()
    var = d.posterior_variance[1].item()
    mean = d.posterior_mean(x1, t, d.predict_x0(x1, t, eps)).item()
    assert abs(d.ddpm_mean(x1, t, eps).item() - mean) < 1e-6  # equation 11 gives the same mean
    zero = torch.zeros_like(x1)
    guided = d.ddpm_step(x1, 1, eps, zero, g, scale=1.0).item()  # noise 0: the guided mean itself
    TEXT.in_notes(f"\\cdot 0.4375 = {var:.4f}$", f"0.421875 \\cdot 0.5 = {mean:.4f}$",
                  f"$s\\,\\Sigma\\, g = {var:.4f} \\cdot 0.5 = {var * 0.5:.4f}$",
                  f"so the guided mean is {guided:.4f}", f"$\\sqrt{{{var:.4f}}} = {var ** 0.5:.4f}$")


def test_default_network_sizes():
    settings = yaml.safe_load((TEXT.folder / "configs" / "default.yaml").read_text())["model"]
    cfg = UNetConfig(**{k: v for k, v in settings.items() if k in UNetConfig.__dataclass_fields__})
    unet, guide = n_params(UNet(cfg)), n_params(NoisyClassifier(cfg))
    TEXT.in_notes(f"the UNet has {unet:,} parameters and the guide {guide:,}")
    TEXT.in_article(f"{round(unet / 1000)} thousand parameters in the UNet, "
                    f"{round(guide / 1000)} thousand in the guide")


def test_maths_to_code_table_quotes_real_code():
    TEXT.check_maths_to_code("6. From maths to code", [diffusion, diffusion.Diffusion, model, evaluate, lightning],
                             min_rows=24)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((diffusion,), min_blocks=4)
