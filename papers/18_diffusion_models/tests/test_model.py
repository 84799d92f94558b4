"""The networks and the diffusion process: shapes, the paper's invariants, guidance, and bad input."""

import math

import pytest
import torch
from diffusion_models.diffusion import Diffusion, class_log_prob_grad, cosine_betas, sample_ddim
from diffusion_models.evaluate import CleanDigitClassifier, diversity, fidelity, mean_pairwise_distance
from diffusion_models.lightning import DiffusionModule
from diffusion_models.model import AttentionBlock, NoisyClassifier, UNet, UNetConfig

CFG = UNetConfig(channels=8, groups=4, n_heads=2)


def randomised(module: torch.nn.Module) -> torch.nn.Module:
    """Replace the zero-initialised layers' weights so every parameter gets a gradient."""
    torch.manual_seed(0)
    for p in module.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return module


def test_shapes():
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([0, 500, 999])
    assert UNet(CFG)(x, t).shape == (3, 1, 8, 8)
    assert NoisyClassifier(CFG)(x, t).shape == (3, 10)
    assert CleanDigitClassifier()(x).shape == (3, 10)


def test_untrained_unet_predicts_zero_noise_so_l_simple_is_about_one():
    # conv_out starts at zero (as in the released code): ε_θ = 0 and L_simple = E[ε²] = 1.
    torch.manual_seed(0)
    loss = Diffusion(1000, "cosine").loss_simple(UNet(CFG), torch.rand(256, 1, 8, 8) * 2 - 1)
    assert abs(loss.item() - 1.0) < 0.02


def test_training_draws_come_from_the_step_not_the_global_generator():
    # A resumed run's global random stream differs from the uninterrupted run's, so a step's t and ε must
    # depend only on (noise_seed, step): the same step gives the same losses whatever the global state.
    module = DiffusionModule(channels=8, groups=4, n_heads=2, samples_per_class=2)
    randomised(module.unet), randomised(module.guide)
    batch = (torch.rand(16, 1, 8, 8) * 2 - 1, torch.arange(16) % 10)
    losses = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        module.log_dict = lambda *args, **kwargs: None  # no trainer attached
        losses.append(module.training_step(batch, 0))
    assert torch.equal(losses[0], losses[1])
    g = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    diffusion, unet, x0 = Diffusion(1000, "cosine"), randomised(UNet(CFG)), batch[0]
    assert torch.equal(diffusion.loss_simple(unet, x0, g(5)), diffusion.loss_simple(unet, x0, g(5)))
    assert not torch.equal(diffusion.loss_simple(unet, x0, g(5)), diffusion.loss_simple(unet, x0, g(6)))


@pytest.mark.parametrize("net", [UNet, NoisyClassifier])
def test_gradient_reaches_every_parameter(net):
    model = randomised(net(CFG))
    model(torch.randn(4, 1, 8, 8), torch.tensor([1, 10, 100, 900])).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_attention_block_is_softmax_attention():
    block = randomised(AttentionBlock(8, 2, 4))
    x = torch.randn(2, 8, 4, 4)
    tokens = block.norm(x).flatten(2).transpose(1, 2)  # [2, 16, 8]
    q, k, v = block.qkv(tokens).chunk(3, dim=-1)
    heads = lambda z: z.view(2, 16, 2, 4).transpose(1, 2)  # noqa: E731
    w = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(4), dim=-1)
    out = block.proj((w @ heads(v)).transpose(1, 2).reshape(2, 16, 8))
    torch.testing.assert_close(block(x), x + out.transpose(1, 2).view(2, 8, 4, 4), atol=1e-5, rtol=1e-5)


def test_q_sample_has_the_closed_form_mean_and_variance():
    d = Diffusion(1000, "linear")
    x0, t = torch.full((20000, 1, 1, 1), 0.5), torch.full((20000,), 249)
    x_t = d.q_sample(x0, t, torch.randn(20000, 1, 1, 1, generator=torch.Generator().manual_seed(0)))
    ab = d.alpha_bar[249].item()
    assert abs(x_t.mean().item() - 0.5 * math.sqrt(ab)) < 0.02 and abs(x_t.var().item() - (1 - ab)) < 0.02


def test_cosine_schedule_clips_beta_and_linear_destroys_signal_sooner():
    assert cosine_betas(1000).max().item() == pytest.approx(0.999)
    assert Diffusion(1000, "linear").alpha_bar[499] < 0.1 < 0.4 < Diffusion(1000, "cosine").alpha_bar[499]


def test_equation_11_mean_is_the_posterior_mean_at_predicted_x0():
    d, g = Diffusion(1000, "linear"), torch.Generator().manual_seed(0)
    x_t, eps, t = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g), torch.full((4,), 300)
    torch.testing.assert_close(d.ddpm_mean(x_t, t, eps), d.posterior_mean(x_t, t, d.predict_x0(x_t, t, eps)),
                               atol=1e-5, rtol=1e-5)


def test_guidance_shifts_the_ancestral_mean_by_s_sigma_grad():
    d, g = Diffusion(1000, "cosine"), torch.Generator().manual_seed(0)
    x_t, eps, grad = (torch.randn(2, 1, 8, 8, generator=g) for _ in range(3))
    zero = torch.zeros_like(x_t)
    shifted = d.ddpm_step(x_t, 400, eps, zero, grad, scale=3.0) - d.ddpm_step(x_t, 400, eps, zero)
    torch.testing.assert_close(shifted, 3.0 * d.posterior_variance[400] * grad)


def test_respaced_chain_keeps_alpha_bar_at_its_steps():
    d = Diffusion(1000, "cosine")
    r = d.respaced(100)
    assert r.T == 100 and r.timestep_map.tolist() == list(range(0, 1000, 10))
    torch.testing.assert_close(r.alpha_bar, d.alpha_bar[r.timestep_map], atol=1e-6, rtol=1e-5)


def test_class_gradient_is_per_image_and_matches_finite_differences():
    torch.manual_seed(0)
    clf = randomised(NoisyClassifier(CFG))
    x, t, y = torch.randn(2, 1, 8, 8), torch.tensor([5, 700]), torch.tensor([3, 7])
    grad = class_log_prob_grad(clf, x, t, y)
    e = torch.zeros_like(x)
    e[1, 0, 2, 5] = 1e-2
    log_p = lambda z: torch.log_softmax(clf(z, t), -1)[1, 7]  # noqa: E731
    assert (log_p(x + e) - log_p(x - e)).item() / 2e-2 == pytest.approx(grad[1, 0, 2, 5].item(), rel=2e-2)
    assert grad[0].abs().sum() > 0  # image 0 alone gives its own gradient: no mixing across the batch
    torch.testing.assert_close(class_log_prob_grad(clf, x[:1], t[:1], y[:1]), grad[:1], atol=1e-6, rtol=1e-4)


def test_guided_ddim_with_scale_zero_is_unguided_and_guidance_changes_samples():
    torch.manual_seed(0)
    unet, clf = randomised(UNet(CFG)), randomised(NoisyClassifier(CFG))
    d, y = Diffusion(1000, "cosine"), torch.arange(4)
    run = lambda s: sample_ddim(d, unet, (4, 1, 8, 8), torch.Generator().manual_seed(1), 5, clf, y, s)  # noqa: E731
    torch.testing.assert_close(run(0.0), sample_ddim(d, unet, (4, 1, 8, 8), torch.Generator().manual_seed(1), 5))
    assert (run(4.0) - run(0.0)).abs().max() > 1e-3


def test_judge_is_separate_from_the_guide_and_sees_only_clean_images():
    module = DiffusionModule(channels=8, groups=4, n_heads=2)
    assert not isinstance(module.judge, NoisyClassifier)
    assert not {id(p) for p in module.judge.parameters()} & {id(p) for p in module.guide.parameters()}
    seen = []
    module.judge.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    x0, y = torch.rand(6, 1, 8, 8) * 2 - 1, torch.arange(6)
    module.training_step((x0, y), 0)
    assert len(seen) == 1 and torch.equal(seen[0], x0)
    seen.clear()
    sample_ddim(module.diffusion, module.unet, (6, 1, 8, 8), torch.Generator().manual_seed(0), 3, module.guide, y, 2.0)
    assert seen == []  # sampling never calls the judge


def test_fidelity_and_diversity():
    judge = CleanDigitClassifier()
    x = torch.randn(6, 1, 8, 8)
    predicted = judge(x).argmax(-1)
    assert fidelity(judge, x, predicted) == 1.0
    two = torch.zeros(2, 1, 8, 8)
    two[1] += 0.5  # 64 pixels apart by 0.5: distance 4
    assert mean_pairwise_distance(two) == pytest.approx(4.0)
    assert diversity(torch.cat([two, two]), torch.tensor([0, 0, 1, 1])) == pytest.approx(4.0)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="model.channels .* divisible by model.groups"):
        UNetConfig(channels=10, groups=4)
    with pytest.raises(ValueError, match="model.n_heads"):
        UNetConfig(channels=8, groups=4, n_heads=3)
    with pytest.raises(ValueError, match=r"x must be \[batch, 1, 8, 8\]"):
        UNet(CFG)(torch.randn(2, 1, 6, 6), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"t must be \[batch\]"):
        UNet(CFG)(torch.randn(2, 1, 8, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="model.schedule"):
        Diffusion(1000, "quadratic")
    with pytest.raises(ValueError, match="DDIM steps"):
        Diffusion(1000, "linear").ddim_timesteps(0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        mean_pairwise_distance(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="model.noise_seed"):
        DiffusionModule(noise_seed=-1)
