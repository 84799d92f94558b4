"""The decoder: shapes, the causal and banded masks, flex and sdpa paths agreeing, gradients, bad input."""

import pytest
import torch
import torch.nn.functional as F
from gpt3.model import GPT3, CausalSelfAttention, GPT3Config, band_mask


def tiny(**kw) -> GPT3Config:
    return GPT3Config(**{"vocab_size": 20, "n_ctx": 24, "d_model": 16, "n_heads": 2, "n_layers": 2, "band": 4} | kw)


def test_output_shape_and_layer_pattern():
    model = GPT3(tiny(n_layers=4))
    assert model(torch.randint(0, 20, (3, 10))).shape == (3, 10, 20)
    assert [b.attn.band for b in model.blocks] == [None, 4, None, 4]  # dense first, then banded, by turns
    model = GPT3(tiny(n_layers=3, attention_types=("banded", "dense")))
    assert [b.attn.band for b in model.blocks] == [4, None, 4]


def test_band_mask_values():
    allowed = band_mask(5, 2)
    assert allowed.int().tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0],
                                      [0, 0, 0, 1, 1]]
    assert torch.equal(band_mask(5, None), torch.ones(5, 5, dtype=torch.bool).tril())


def _attention(band_layer: bool, cfg: GPT3Config) -> CausalSelfAttention:
    torch.manual_seed(0)
    return CausalSelfAttention(cfg, banded=band_layer).eval()


def test_band_covering_the_context_equals_dense_attention():
    cfg = tiny(band=24)
    x = torch.randn(2, 24, 16)
    assert torch.allclose(_attention(True, cfg)(x), _attention(False, cfg)(x), atol=1e-6)
    # The layer hands a band >= the length to the causal kernel; the mask path itself must agree too:
    assert torch.equal(band_mask(24, 24), band_mask(24, None))
    q, k, v = torch.randn(3, 2, 2, 24, 8).unbind(0)
    with_mask = F.scaled_dot_product_attention(q, k, v, attn_mask=band_mask(24, 24))
    assert torch.allclose(with_mask, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
    # ... and so must the flex path's mask_mod (band 24 over 24 tokens), forward only on the CPU:
    flex = _attention(True, tiny(band=24, attn_impl="flex"))
    with torch.no_grad():
        torch.testing.assert_close(flex(x), _attention(False, cfg)(x), atol=1e-5, rtol=1e-5)


def test_banded_layer_hides_every_position_outside_the_band():
    attn = _attention(True, tiny(band=4))
    x = torch.randn(1, 24, 16)
    t = 15
    changed = x.clone()
    changed[:, : t - 3] = torch.randn(1, t - 3, 16)  # every key more than band - 1 = 3 steps back
    changed[:, t + 1 :] = torch.randn(1, 24 - t - 1, 16)  # and every later key
    assert torch.allclose(attn(x)[:, t], attn(changed)[:, t], atol=1e-6)
    inside = x.clone()
    inside[:, t - 3] += 1.0  # a key inside the band does change the output
    assert not torch.allclose(attn(x)[:, t], attn(inside)[:, t], atol=1e-4)
    dense = _attention(False, tiny(band=4))
    assert not torch.allclose(dense(x)[:, t], dense(changed)[:, t], atol=1e-4)  # dense sees them all


def test_causal_mask_hides_future_in_the_whole_model():
    model = GPT3(tiny()).eval()
    idx = torch.randint(0, 20, (2, 20))
    changed = idx.clone()
    changed[:, 12:] = torch.randint(0, 20, (2, 8))
    assert torch.allclose(model(idx)[:, :12], model(changed)[:, :12], atol=1e-6)
    assert torch.allclose(model(idx)[:, :12], model(idx[:, :12]), atol=1e-6)  # a prefix is a shorter prompt


@pytest.mark.parametrize("band", [3, 24])
def test_flex_attention_path_matches_sdpa_path(band):
    torch.manual_seed(0)
    sdpa = GPT3(tiny(band=band, n_layers=2)).eval()
    flex = GPT3(tiny(band=band, n_layers=2, attn_impl="flex")).eval()
    flex.load_state_dict(sdpa.state_dict())
    idx = torch.randint(0, 20, (2, 24))
    with torch.no_grad():  # flex_attention has no CPU backward in torch 2.15
        torch.testing.assert_close(flex(idx), sdpa(idx), atol=1e-5, rtol=1e-5)


def test_gradient_reaches_every_parameter():
    model = GPT3(tiny())
    model(torch.randint(0, 20, (2, 12))).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_residual_projections_use_the_scaled_init():
    torch.manual_seed(0)
    model = GPT3(tiny(d_model=64, n_heads=4, n_layers=8))
    std = model.blocks[0].attn.W_o.weight.std().item()
    assert std == pytest.approx(0.02 / 4, rel=0.1)  # 0.02 / sqrt(2 * 8)
    assert model.blocks[0].attn.W_qkv.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="divisible"):
        tiny(d_model=15)
    with pytest.raises(ValueError, match="attention_types"):
        tiny(attention_types=("dense", "strided"))
    with pytest.raises(ValueError, match="attn_impl"):
        tiny(attn_impl="xformers")
    with pytest.raises(ValueError, match="band must be >= 1"):
        tiny(band=0)
    with pytest.raises(ValueError, match=r"idx must be token ids \[batch, seq\]"):
        GPT3(tiny())(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds the context"):
        GPT3(tiny())(torch.zeros(1, 25, dtype=torch.long))
