"""Unit tests of the decoder: shapes, the causal mask, GPT-2's changes from GPT-1, gradient flow, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from gpt2.model import GPT2, Block, GPT2Config, gelu


def ids(cfg, batch=3, t=10, seed=0):
    return torch.randint(0, cfg.vocab_size, (batch, t), generator=torch.Generator().manual_seed(seed))


def test_forward_shape(tiny_model, tiny_cfg):
    assert tiny_model(ids(tiny_cfg)).shape == (3, 10, tiny_cfg.vocab_size)


def test_causal_mask_hides_future(tiny_model, tiny_cfg):
    x = ids(tiny_cfg)
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % tiny_cfg.vocab_size
    a, b = tiny_model(x), tiny_model(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6])  # positions 0..5 never see tokens 6..
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_positions_are_learned_and_matter(tiny_model, tiny_cfg):
    assert tiny_model.wpe.weight.shape == (tiny_cfg.n_ctx, tiny_cfg.d_model) and tiny_model.wpe.weight.requires_grad
    same = torch.full((1, 5), 7)  # one token repeated: only the position tells the copies apart
    logits = tiny_model(same)
    assert not torch.allclose(logits[0, 1], logits[0, 2])


def test_output_layer_is_the_token_embedding(tiny_model, tiny_cfg):
    # Weight tying: no separate [vocab, d_model] output matrix exists ...
    shaped = [n for n, p in tiny_model.named_parameters() if p.shape == (tiny_cfg.vocab_size, tiny_cfg.d_model)]
    assert shaped == ["wte.weight"]
    # ... and the logits are the final hidden states times the embedding's transpose.
    x = ids(tiny_cfg)
    h = tiny_model.wte(x) + tiny_model.wpe(torch.arange(x.size(1)))
    for block in tiny_model.blocks:
        h, _ = block(h)
    torch.testing.assert_close(tiny_model(x), tiny_model.ln_f(h) @ tiny_model.wte.weight.T)


def test_pre_ln_block_is_identity_when_sub_blocks_output_zero(tiny_cfg):
    # Pre-LN: x + Attn(LN(x)) + MLP(LN(.)). With the residual projections zeroed the block passes x
    # through untouched (post-LN would still normalise it).
    block = Block(tiny_cfg).eval()
    for lin in (block.attn.W_o, block.mlp.W_2):
        torch.nn.init.zeros_(lin.weight)
        torch.nn.init.zeros_(lin.bias)
    x = 5 * torch.randn(2, 7, tiny_cfg.d_model) + 3
    out, _ = block(x)
    torch.testing.assert_close(out, x)


def test_final_layer_norm_normalises_the_last_hidden_state(tiny_model, tiny_cfg):
    # GPT-2 adds LN_f after the last block: the rows the output layer sees have mean 0, std 1 at init.
    captured = {}
    tiny_model.ln_f.register_forward_hook(lambda m, i, o: captured.update(out=o))
    tiny_model(ids(tiny_cfg))
    torch.testing.assert_close(captured["out"].mean(-1), torch.zeros(3, 10), atol=1e-5, rtol=0)
    # Not exactly 1: at init the stream's variance (~0.0008) is small enough for LayerNorm's
    # eps = 1e-5 in sqrt(var + eps) to shave about 1% off.
    torch.testing.assert_close(captured["out"].std(-1, unbiased=False), torch.ones(3, 10), atol=2e-2, rtol=0)


def test_residual_projections_are_scaled_by_one_over_sqrt_2n():
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=10, n_ctx=8, d_model=256, n_heads=4, n_layers=8)
    model = GPT2(cfg)
    expected = 0.02 / math.sqrt(2 * cfg.n_layers)  # 0.005
    for block in model.blocks:
        for w in (block.attn.W_o.weight, block.mlp.W_2.weight):
            assert w.std().item() == pytest.approx(expected, rel=0.03)
        for w in (block.attn.W_qkv.weight, block.mlp.W_1.weight):
            assert w.std().item() == pytest.approx(0.02, rel=0.03)
        assert block.attn.W_o.bias.abs().max() == 0 and block.ln_1.weight.eq(1).all()
    assert model.wte.weight.std().item() == pytest.approx(0.02, rel=0.03)


def test_scaled_init_keeps_the_residual_stream_from_growing_with_depth():
    # The reason for the 1/sqrt(2N) scale: at init, the stream's growth over the blocks stays about
    # the same whatever the depth; with plain N(0, 0.02) projections it keeps growing with N.
    def growth(n_layers: int, scaled: bool) -> float:
        torch.manual_seed(0)
        model = GPT2(GPT2Config(vocab_size=64, n_ctx=32, d_model=128, n_heads=4, n_layers=n_layers)).eval()
        if not scaled:
            for block in model.blocks:
                torch.nn.init.normal_(block.attn.W_o.weight, std=0.02)
                torch.nn.init.normal_(block.mlp.W_2.weight, std=0.02)
        x = torch.randint(0, 64, (8, 32), generator=torch.Generator().manual_seed(1))
        h = model.wte(x) + model.wpe(torch.arange(32))
        start = h.var().item()
        for block in model.blocks:
            h, _ = block(h)
        return h.var().item() - start

    assert growth(24, scaled=True) < 1.6 * growth(6, scaled=True)
    assert growth(24, scaled=False) > 3.0 * growth(6, scaled=False)


def test_gelu_is_the_tanh_approximation():
    x = torch.linspace(-4, 4, 101)
    torch.testing.assert_close(gelu(x), F.gelu(x, approximate="tanh"))
    assert not torch.allclose(gelu(x), F.gelu(x), atol=1e-5)  # differs from the exact erf form
    assert gelu(torch.tensor(1.0)).item() == pytest.approx(0.841192, abs=1e-6)


def test_gradient_reaches_every_parameter(tiny_cfg):
    torch.manual_seed(0)
    model = GPT2(tiny_cfg)
    model(ids(tiny_cfg)).logsumexp(-1).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_parameter_count_of_gpt2_small():
    # The 124M model: 124,439,808 parameters with the tied output layer (Hugging Face reports the same).
    cfg = GPT2Config(vocab_size=50257, n_ctx=1024, d_model=768, n_heads=12, n_layers=12)
    with torch.device("meta"):
        model = GPT2(cfg)
    assert model.num_params() == 124_439_808


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 30, "n_heads": 4}, "divisible by n_heads"),
        ({"n_layers": 0}, "n_layers must be >= 1"),
        ({"vocab_size": 0}, "vocab_size must be >= 1"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_impossible_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GPT2Config(**({"vocab_size": 20, "d_model": 16, "n_heads": 4} | kwargs))


def test_wrong_input_is_rejected(tiny_model, tiny_cfg):
    with pytest.raises(ValueError, match=r"idx must be token ids \[batch, seq\]"):
        tiny_model(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds the context n_ctx = 16"):
        tiny_model(torch.zeros(1, 17, dtype=torch.long))
