"""Parity: our multi-head attention equals torch.nn.MultiheadAttention given the same weights (fp32)."""

import pytest
import torch
from attention_is_all_you_need.model import MultiHeadAttention
from torch import nn


def copy_into_ours(ref: nn.MultiheadAttention, ours: MultiHeadAttention) -> None:
    d = ref.embed_dim
    w, b = ref.in_proj_weight.detach(), ref.in_proj_bias.detach()
    with torch.no_grad():
        for i, lin in enumerate((ours.W_q, ours.W_k, ours.W_v)):
            lin.weight.copy_(w[i * d : (i + 1) * d])
            lin.bias.copy_(b[i * d : (i + 1) * d])
        ours.W_o.weight.copy_(ref.out_proj.weight)
        ours.W_o.bias.copy_(ref.out_proj.bias)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("case", ["self", "cross", "causal", "padded"])
def test_matches_torch_multihead_attention(case, need_weights):
    torch.manual_seed(0)
    d_model, heads, batch, t_q, t_k = 32, 4, 3, 5, 7
    ref = nn.MultiheadAttention(d_model, heads, batch_first=True).eval()
    ours = MultiHeadAttention(d_model, heads).eval()
    copy_into_ours(ref, ours)

    x = torch.randn(batch, t_q, d_model)
    mem = x if case in ("self", "causal") else torch.randn(batch, t_k, d_model)
    ref_kwargs, mask = {}, None
    if case == "causal":
        allowed = torch.ones(t_q, t_q, dtype=torch.bool).tril()
        mask, ref_kwargs["attn_mask"] = allowed, ~allowed  # torch marks the *forbidden* positions
    if case == "padded":
        keep = torch.ones(batch, t_k, dtype=torch.bool)
        keep[0, 4:], keep[2, 6:] = False, False
        mask, ref_kwargs["key_padding_mask"] = keep[:, None, None, :], ~keep

    expected, expected_w = ref(x, mem, mem, need_weights=True, average_attn_weights=False, **ref_kwargs)
    got, got_w = ours(x, mem, mem, mask, need_weights=need_weights)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    if need_weights:
        torch.testing.assert_close(got_w, expected_w, atol=1e-6, rtol=1e-5)
