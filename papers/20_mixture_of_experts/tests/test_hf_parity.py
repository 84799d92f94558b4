"""Parity with transformers (a test-only reference, random weights, fp32, no download):

- our routed layer against `MixtralSparseMoeBlock` (top-2): with the noise off, the paper's
  softmax over the top-k logits equals Mixtral's softmax over all logits renormalised over the top k;
- our Switch-style auxiliary loss against transformers' `load_balancing_loss_func`.
"""

import pytest
import torch
from mixture_of_experts.model import MoE, switch_balance_loss

mixtral = pytest.importorskip("transformers.models.mixtral.modeling_mixtral")
from transformers import MixtralConfig  # noqa: E402

D_MODEL, D_EXPERT, N_EXPERTS, TOP_K = 16, 12, 4, 2


def copy_from_mixtral(block, ours: MoE) -> None:
    """Mixtral stores router.weight [n_experts, d_model], gate_up_proj [n_experts, 2 d_expert, d_model] (gate rows
    first) and down_proj [n_experts, d_model, d_expert]; ours are row-vector matrices, x @ W."""
    with torch.no_grad():
        ours.gate.W_g.copy_(block.gate.weight.T)
        ours.experts.W_1.copy_(block.experts.gate_up_proj.transpose(1, 2))
        ours.experts.W_2.copy_(block.experts.down_proj.transpose(1, 2))


def _block():
    cfg = MixtralConfig(hidden_size=D_MODEL, intermediate_size=D_EXPERT, num_local_experts=N_EXPERTS,
                        num_experts_per_tok=TOP_K, router_jitter_noise=0.0)
    torch.manual_seed(0)
    block = mixtral.MixtralSparseMoeBlock(cfg).eval()
    with torch.no_grad():  # built alone, its weights are uninitialised (torch.empty): draw them
        for p in block.parameters():
            p.normal_(0, 0.5)
    return block


def test_routed_layer_matches_mixtral_sparse_moe_block():
    block = _block()
    ours = MoE(D_MODEL, N_EXPERTS, TOP_K, D_EXPERT, capacity_factor=None, activation="swiglu").eval()
    copy_from_mixtral(block, ours)
    x = torch.randn(3, 5, D_MODEL)
    with torch.no_grad():
        expected = block(x.clone())
        got = ours(x.reshape(-1, D_MODEL)).view(3, 5, D_MODEL)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_without_the_copy_the_outputs_differ():
    block = _block()
    ours = MoE(D_MODEL, N_EXPERTS, TOP_K, D_EXPERT, capacity_factor=None, activation="swiglu").eval()
    x = torch.randn(3, 5, D_MODEL)
    with torch.no_grad():
        assert not torch.allclose(ours(x.reshape(-1, D_MODEL)).view(3, 5, D_MODEL), block(x.clone()), atol=1e-3)


def test_switch_loss_matches_transformers_load_balancing_loss_func():
    torch.manual_seed(0)
    logits = torch.randn(40, N_EXPERTS) * 2
    expected = mixtral.load_balancing_loss_func((logits,), N_EXPERTS, TOP_K)
    torch.testing.assert_close(switch_balance_loss(logits, TOP_K), expected, atol=1e-6, rtol=1e-6)


def test_switch_loss_is_top_k_at_perfect_balance_in_transformers_too():
    logits = torch.zeros(N_EXPERTS, N_EXPERTS)
    for t in range(N_EXPERTS):
        logits[t, t], logits[t, (t + 1) % N_EXPERTS] = 2.0, 1.0
    reference = mixtral.load_balancing_loss_func((logits,), N_EXPERTS, TOP_K)
    assert abs(reference.item() - TOP_K) < 1e-5 and abs(switch_balance_loss(logits, TOP_K).item() - TOP_K) < 1e-5
