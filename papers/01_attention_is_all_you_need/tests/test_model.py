"""Unit tests: shapes, masks, the paper's stated invariants, gradient flow, bad input."""

import pytest
import torch
from attention_is_all_you_need.data import BOS, EOS, PAD
from attention_is_all_you_need.model import (
    MultiHeadAttention,
    Transformer,
    TransformerConfig,
    scaled_dot_product_attention,
    sinusoidal_positions,
)


def random_batch(cfg, batch=3, t_src=7, t_tgt=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, cfg.vocab_size, (batch, t_src), generator=g)
    tgt = torch.randint(3, cfg.vocab_size, (batch, t_tgt), generator=g)
    return src, tgt


def test_forward_shapes(tiny_model, tiny_cfg):
    src, tgt = random_batch(tiny_cfg)
    assert tiny_model(src, tgt).shape == (3, 5, tiny_cfg.vocab_size)
    memory, src_mask, maps = tiny_model.encode(src, need_weights=True)
    assert memory.shape == (3, 7, tiny_cfg.d_model)
    assert src_mask.shape == (3, 1, 1, 7)
    assert [m.shape for m in maps] == [(3, tiny_cfg.n_heads, 7, 7)] * tiny_cfg.n_layers


def test_causal_mask_hides_future(tiny_model, tiny_cfg):
    src, tgt = random_batch(tiny_cfg)
    changed = tgt.clone()
    changed[:, 3:] = (changed[:, 3:] + 1) % tiny_cfg.vocab_size
    a, b = tiny_model(src, tgt), tiny_model(src, changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # positions 0..2 never saw tokens 3..
    assert not torch.allclose(a[:, 3:], b[:, 3:])  # and the later positions do change


def test_source_padding_is_ignored(tiny_model, tiny_cfg):
    src, tgt = random_batch(tiny_cfg)
    padded = torch.cat([src, torch.full((3, 4), PAD)], dim=1)
    torch.testing.assert_close(tiny_model(src, tgt), tiny_model(padded, tgt), atol=1e-5, rtol=1e-5)


def test_padding_gets_zero_attention(tiny_model, tiny_cfg):
    src, _ = random_batch(tiny_cfg)
    src[:, -2:] = PAD
    _, _, maps = tiny_model.encode(src, need_weights=True)
    assert torch.all(maps[0][..., -2:] == 0)


def test_attention_weights_are_distributions():
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8)
    out, w = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 4, 8) and w.shape == (2, 3, 4, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 4))
    assert torch.all(w >= 0)


def test_scaling_keeps_scores_unit_variance():
    # The paper's reason for 1/sqrt(d_k): q.k of unit-variance vectors has variance d_k.
    torch.manual_seed(0)
    d_k = 256
    q, k = torch.randn(20000, d_k), torch.randn(20000, d_k)
    raw = (q * k).sum(-1)
    assert raw.var().item() == pytest.approx(d_k, rel=0.05)
    assert (raw / d_k**0.5).var().item() == pytest.approx(1.0, rel=0.05)


def test_fused_and_explicit_attention_agree():
    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4).eval()
    x, mem = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    mask[0, ..., 5:] = False
    fused, none = mha(x, mem, mem, mask)
    explicit, weights = mha(x, mem, mem, mask, need_weights=True)
    assert none is None and weights.shape == (2, 4, 5, 7)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_sinusoidal_positions_match_formula_and_rotate():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    pos, i = 7, 1
    assert pe[pos, 2 * i].item() == pytest.approx(torch.sin(torch.tensor(pos / 10000 ** (2 * i / 8))).item())
    assert pe[pos, 2 * i + 1].item() == pytest.approx(torch.cos(torch.tensor(pos / 10000 ** (2 * i / 8))).item())
    # The paper's motivation: PE[pos + k] is a linear function (a rotation per frequency) of PE[pos].
    k = 5
    for i in range(4):
        w = 1.0 / 10000 ** (2 * i / 8)
        c, s = torch.cos(torch.tensor(k * w)), torch.sin(torch.tensor(k * w))
        rot = torch.tensor([[c, -s], [s, c]])  # [sin a, cos a] @ rot = [sin(a + kw), cos(a + kw)]
        pair = pe[:, 2 * i : 2 * i + 2]  # [pos, (sin, cos)] as row vectors
        torch.testing.assert_close(pair[:-k] @ rot, pair[k:], atol=1e-5, rtol=1e-4)


def test_post_ln_outputs_are_normalised(tiny_model, tiny_cfg):
    # Post-LN: every layer ends with LayerNorm, so each encoder output row has mean ~0, std ~1
    # (the LayerNorm gain and bias start at 1 and 0).
    src, _ = random_batch(tiny_cfg)
    memory, _, _ = tiny_model.encode(src)
    torch.testing.assert_close(memory.mean(-1), torch.zeros(3, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(memory.std(-1, unbiased=False), torch.ones(3, 7), atol=1e-3, rtol=0)


def test_embedding_shared_by_source_target_and_output(tiny_model):
    names = [n for n, p in tiny_model.named_parameters() if p.shape == tiny_model.embed.weight.shape]
    assert names == ["embed.weight"]


def test_gradient_reaches_every_parameter(tiny_cfg):
    torch.manual_seed(0)
    model = Transformer(tiny_cfg)
    src, tgt = random_batch(tiny_cfg)
    model(src, tgt).logsumexp(-1).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_greedy_decode_stops_at_eos_and_pads_after(tiny_model, tiny_cfg):
    src, _ = random_batch(tiny_cfg, batch=4)
    out = tiny_model.greedy_decode(src, BOS, EOS, max_len=6)
    assert out[:, 0].eq(BOS).all() and out.shape[1] <= 7
    for row in out.tolist():
        if EOS in row:
            assert all(t == PAD for t in row[row.index(EOS) + 1 :])


def test_beam_of_one_is_greedy(tiny_model, tiny_cfg):
    src, _ = random_batch(tiny_cfg, batch=4)
    greedy = tiny_model.greedy_decode(src, BOS, EOS, max_len=6)
    beam = tiny_model.beam_search(src, BOS, EOS, max_len=6, beam_size=1, alpha=0.0)
    assert torch.equal(greedy, beam[:, : greedy.shape[1]])


def test_beam_search_returns_its_best_scored_hypothesis(tiny_model, tiny_cfg):
    # With alpha = 0 the returned sequence must have the highest total log-probability among
    # the final beams; compare against greedy, which is one of the hypotheses beam 1 explores.
    src, _ = random_batch(tiny_cfg, batch=1)
    beam = tiny_model.beam_search(src, BOS, EOS, max_len=6, beam_size=4, alpha=0.0)

    def logprob(seq):
        seq = seq[: (seq == EOS).nonzero()[0].item() + 1] if (seq == EOS).any() else seq
        logits = tiny_model(src, seq[None, :-1])
        return logits.log_softmax(-1)[0].gather(-1, seq[1:, None]).sum().item()

    greedy = tiny_model.greedy_decode(src, BOS, EOS, max_len=6)
    assert logprob(beam[0]) >= logprob(greedy[0]) - 1e-5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 30, "n_heads": 4}, "divisible by n_heads"),
        ({"d_model": 15, "n_heads": 5}, "must be even"),
        ({"dropout": 1.0}, "dropout"),
        ({"n_layers": 0}, "n_layers"),
        ({"pad_id": 99}, "pad_id"),
    ],
)
def test_impossible_config_is_rejected(kwargs, message):
    args = {"vocab_size": 20, "d_model": 16, "n_heads": 4} | kwargs
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**args)


def test_wrong_input_shapes_are_rejected(tiny_model):
    with pytest.raises(ValueError, match=r"src must be token ids \[batch, seq\]"):
        tiny_model.encode(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds max_len"):
        tiny_model.encode(torch.ones(1, 40, dtype=torch.long))
    with pytest.raises(ValueError, match="query must be"):
        MultiHeadAttention(16, 4)(torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.randn(2, 3, 8))
