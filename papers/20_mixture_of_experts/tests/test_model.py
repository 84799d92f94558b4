"""The layer's invariants: the paper's gating formula, the balancing losses, capacity, sparse dispatch."""

import math

import pytest
import torch
import torch.nn.functional as F
from mixture_of_experts.model import (
    NOISE_EPSILON,
    DecoderLM,
    ModelConfig,
    MoE,
    NoisyTopKGate,
    active_params,
    capacity,
    cv_squared,
    prob_in_top_k,
    switch_balance_loss,
)


def _moe(n_experts=4, top_k=2, capacity_factor=None, d_model=8, seed=0) -> MoE:
    torch.manual_seed(seed)
    layer = MoE(d_model, n_experts, top_k, d_expert=6, capacity_factor=capacity_factor)
    with torch.no_grad():  # a router that has learned something: the zero init ties every logit
        layer.gate.W_g.normal_(0, 1.0)
        layer.gate.W_noise.normal_(0, 0.3)
    return layer


def test_gate_is_softmax_over_the_top_k_of_the_noisy_logits():
    layer = _moe(n_experts=5, top_k=2)
    gate = layer.gate.train()
    x = torch.randn(7, 8)
    out = gate(x, torch.Generator().manual_seed(3))
    # Section 2.1 by hand: H = x W_g + N(0,1) * (softplus(x W_noise) + eps), KeepTopK, softmax.
    noise = torch.randn(7, 5, generator=torch.Generator().manual_seed(3))
    H = x @ gate.W_g + noise * (F.softplus(x @ gate.W_noise) + NOISE_EPSILON)
    kth = H.topk(2, dim=-1).values[:, -1:]
    expected = torch.where(H >= kth, H, torch.full_like(H, -math.inf)).softmax(-1)
    torch.testing.assert_close(out["gates"], expected)
    assert ((out["gates"] > 0).sum(-1) == 2).all()
    torch.testing.assert_close(out["gates"].sum(-1), torch.ones(7))


def test_no_noise_at_evaluation():
    gate = _moe().gate.eval()
    x = torch.randn(6, 8)
    a, b = gate(x, torch.Generator().manual_seed(0)), gate(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a["gates"], b["gates"])
    torch.testing.assert_close(a["load"], (a["gates"] > 0).float().sum(0))


def test_prob_in_top_k_matches_redrawing_one_experts_noise():
    # Appendix A: P(x, i) = probability that expert i is in the top k when only its own noise is drawn again.
    torch.manual_seed(0)
    clean = torch.randn(3, 5)
    std = torch.rand(3, 5) + 0.5
    noisy = clean + torch.randn(3, 5) * std
    k = 2
    top_vals = noisy.topk(k + 1, dim=-1).values
    p = prob_in_top_k(clean, noisy, std, top_vals, k)
    draws = 20000
    for i in range(5):
        others = torch.cat([noisy[:, :i], noisy[:, i + 1 :]], dim=1)  # [3, 4]
        kth_other = others.topk(k, dim=-1).values[:, -1]  # [3]
        resampled = clean[:, i : i + 1] + torch.randn(3, draws) * std[:, i : i + 1]
        monte_carlo = (resampled > kth_other[:, None]).float().mean(1)
        torch.testing.assert_close(p[:, i], monte_carlo, atol=0.015, rtol=0)


def test_cv_squared_is_zero_when_balanced_and_n_minus_one_when_collapsed():
    assert cv_squared(torch.full((8,), 3.0)) == 0
    assert math.isclose(cv_squared(torch.tensor([8.0, 0, 0, 0, 0, 0, 0, 0])).item(), 7.0, rel_tol=1e-6)


def test_switch_loss_equals_top_k_at_perfect_balance_and_grows_when_collapsed():
    n, k = 4, 2
    logits = torch.zeros(n, n)
    for t in range(n):  # token t prefers experts t and t+1: every expert chosen equally, mean probs uniform
        logits[t, t], logits[t, (t + 1) % n] = 2.0, 1.0
    assert math.isclose(switch_balance_loss(logits, k).item(), k, rel_tol=1e-6)
    collapsed = torch.tensor([[3.0, 2.0, 0.0, 0.0]]).repeat(4, 1)
    assert switch_balance_loss(collapsed, k).item() > k + 0.5


def test_capacity_drops_the_latest_tokens_beyond_each_experts_slots():
    layer = _moe(n_experts=4, top_k=2, capacity_factor=0.5).eval()
    x = torch.randn(16, 8)
    r = layer.route(x)
    slots = capacity(16, 4, 2, 0.5)
    assert slots == 4
    assert (r["kept"].sum(0) <= slots).all() and r["kept"].sum() < r["chosen"].sum()  # something was dropped
    for e in range(4):  # first come, first served: the kept rows are the earliest that chose e
        rows = r["chosen"][:, e].nonzero().squeeze(1)
        assert torch.equal(r["kept"][:, e].nonzero().squeeze(1), rows[:slots])
    assert (r["gates"][~r["kept"]] == 0).all()


def test_dropped_or_unchosen_expert_gets_no_gradient_from_a_token():
    layer = _moe(n_experts=4, top_k=2, capacity_factor=0.5).eval()
    x = torch.randn(16, 8)
    r = layer.route(x)
    dropped = (r["chosen"] & ~r["kept"]).any(1).nonzero().squeeze(1)
    token = dropped[-1].item()  # a token that lost at least one of its experts to capacity
    y = layer(x)
    y[token].sum().backward()
    grad = layer.experts.W_1.grad  # [n_experts, d_model, d_expert]
    for e in range(4):
        used = r["kept"][token, e].item()
        assert (grad[e].abs().sum() > 0) == used, (e, r["chosen"][token], r["kept"][token])
    assert r["chosen"][token].sum() == 2 and r["kept"][token].sum() < 2


def test_sparse_dispatch_equals_computing_every_expert():
    layer = _moe(n_experts=6, top_k=2, capacity_factor=1.0).eval()
    x = torch.randn(20, 8)
    torch.testing.assert_close(layer(x), layer(x, dense=True), atol=1e-6, rtol=1e-5)


def test_causal_mask_and_capacity_hide_the_future():
    cfg = ModelConfig(vocab_size=20, d_model=16, n_heads=2, block_size=10, d_ff=16, n_experts=4, capacity_factor=0.5)
    torch.manual_seed(0)
    model = DecoderLM(cfg).eval()
    for layer in model.moe_layers():
        torch.nn.init.normal_(layer.gate.W_g)
    idx = torch.randint(0, 20, (3, 10))
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 7) % 20  # every sequence changes after position 5
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_moe_and_dense_have_the_same_active_parameters_per_token():
    dense = DecoderLM(ModelConfig(ffn="dense"))
    moe = DecoderLM(ModelConfig(ffn="moe"))
    cfg = moe.cfg
    gate_params = cfg.n_layers * 2 * cfg.d_model * cfg.n_experts  # W_g and W_noise: every token uses them
    assert active_params(moe) - active_params(dense) == gate_params
    expert_params = cfg.n_layers * cfg.n_experts * 2 * cfg.d_model * (cfg.d_ff // cfg.top_k)
    assert sum(p.numel() for p in moe.parameters()) - active_params(moe) == expert_params * (1 - 2 / 8)


def test_gradient_reaches_every_parameter_with_the_balancing_losses():
    torch.manual_seed(0)
    model = DecoderLM(ModelConfig(vocab_size=20, d_model=16, n_heads=2, block_size=8, d_ff=16, n_experts=4)).train()
    idx = torch.randint(0, 20, (4, 8))
    loss = F.cross_entropy(model(idx).flatten(0, 1), idx.flatten())
    for layer in model.moe_layers():
        importance, load = layer.balance_losses()
        loss = loss + 0.1 * importance + 0.1 * load
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_load_loss_gives_the_noise_weights_a_gradient_and_importance_loss_the_gate():
    layer = _moe(n_experts=4, top_k=2).train()
    layer.generator = torch.Generator().manual_seed(0)
    layer(torch.randn(32, 8))
    importance, load = layer.balance_losses()
    load.backward(retain_graph=True)
    assert layer.gate.W_noise.grad.abs().sum() > 0  # the smooth load is differentiable in W_noise
    layer.gate.W_g.grad = None
    importance.backward()
    assert layer.gate.W_g.grad.abs().sum() > 0


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="top_k"):
        ModelConfig(n_experts=2, top_k=3)
    with pytest.raises(ValueError, match="capacity_factor"):
        ModelConfig(capacity_factor=0.0)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        ModelConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="ffn"):
        ModelConfig(ffn="sparse")
    with pytest.raises(ValueError, match="activation"):
        MoE(8, 4, 2, 6, activation="gelu")
    with pytest.raises(ValueError, match=r"idx must be \[batch, seq"):
        DecoderLM(ModelConfig(block_size=4))(torch.zeros(1, 5, dtype=torch.long))


def test_noisy_gate_without_noise_weights_when_noisy_is_off():
    gate = NoisyTopKGate(8, 4, 2, noisy=False).train()
    assert gate.W_noise is None
    out = gate(torch.randn(5, 8))
    torch.testing.assert_close(out["load"], (out["gates"] > 0).float().sum(0))


def test_each_expert_computes_only_the_tokens_it_kept():
    layer = _moe(n_experts=4, top_k=2, capacity_factor=0.5).eval()
    x = torch.arange(16.0)[:, None] + torch.zeros(16, 8)  # row i holds the value i: the expert sees which tokens
    torch.manual_seed(1)
    x = x + 0.1 * torch.randn(16, 8)
    seen = {}
    original = layer.experts.one

    def spy(e, rows):
        seen[e] = rows[:, 0].round().long().tolist()
        return original(e, rows)

    layer.experts.one = spy
    layer(x)
    kept = layer.route(x)["kept"]
    for e in range(4):
        assert seen.get(e, []) == kept[:, e].nonzero().squeeze(1).tolist()
