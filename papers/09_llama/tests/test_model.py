"""The LLaMA modules: shapes, causality, RoPE's relative-position property, RMSNorm, SwiGLU, the KV
cache, grouped-query attention, gradient flow and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from llama.lightning import VARIANTS, count_params, variant_configs
from llama.model import (
    Attention,
    ModelConfig,
    RMSNorm,
    SwiGLU,
    Transformer,
    apply_rope,
    n_params,
    rope_angles,
    swiglu_hidden,
)

TINY = dict(vocab_size=30, d_model=32, n_layers=2, n_heads=4, d_ff=48, max_seq_len=24)


def tiny(**overrides) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(**{**TINY, **overrides})).eval()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_maps_ids_to_logits(name):
    model = tiny(**VARIANTS[name][1])
    logits, cache = model(torch.randint(0, 30, (3, 10)))
    assert logits.shape == (3, 10, 30)
    assert len(cache) == 2 and cache[0][0].shape == (3, 4, 10, 8)  # [batch, n_kv_heads, seq, d_head]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_causal_logit_at_t_ignores_later_tokens(name):
    model = tiny(**VARIANTS[name][1])
    idx = torch.randint(0, 30, (2, 12))
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 30
    a, b = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(a[:, :7], b[:, :7], atol=1e-6, rtol=0)
    assert (a[:, 7:] - b[:, 7:]).abs().max() > 1e-4  # and the later positions do see the change


def test_rope_score_depends_only_on_the_offset():
    # <R_m q, R_n k> = <q, R_(n-m) k>: shift both positions by the same amount, same score.
    torch.manual_seed(0)
    d_head = 16
    cos, sin = rope_angles(200, d_head)
    q, k = torch.randn(d_head), torch.randn(d_head)

    def score(m: int, n: int) -> float:
        qm = apply_rope(q.view(1, 1, 1, -1), cos[m : m + 1], sin[m : m + 1]).flatten()
        kn = apply_rope(k.view(1, 1, 1, -1), cos[n : n + 1], sin[n : n + 1]).flatten()
        return float(qm @ kn)

    for m, n in [(5, 2), (9, 9), (3, 17)]:
        for shift in (1, 40, 150):
            assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=2e-5)
    assert abs(score(5, 2) - score(5, 3)) > 1e-3  # a different offset gives a different score


def test_rope_is_a_rotation_and_position_zero_is_identity():
    torch.manual_seed(0)
    cos, sin = rope_angles(50, 8)
    x = torch.randn(2, 3, 50, 8)
    rotated = apply_rope(x, cos, sin)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))  # lengths are kept
    torch.testing.assert_close(rotated[:, :, 0], x[:, :, 0])  # angle 0 at position 0
    # Pair (0, 1) turns by exactly m radians at position m (theta_0 = 1).
    e = torch.zeros(1, 1, 50, 8)
    e[..., 0] = 1.0
    out = apply_rope(e, cos, sin)[0, 0]
    m = torch.arange(50, dtype=torch.float32)
    torch.testing.assert_close(out[:, 0], m.cos())
    torch.testing.assert_close(out[:, 1], m.sin())


def test_rope_frequencies_follow_the_formula():
    cos, sin = rope_angles(4, 8, theta=10000.0)
    angles = torch.atan2(sin, cos)
    expected = torch.tensor([[m * 10000.0 ** (-2 * i / 8) for i in range(4)] for m in range(4)])
    torch.testing.assert_close(angles, torch.atan2(expected.sin(), expected.cos()))


def test_rmsnorm_formula_and_scale_invariance():
    torch.manual_seed(0)
    norm = RMSNorm(6, eps=1e-6)
    norm.weight.data = torch.arange(1.0, 7.0)
    x = torch.randn(2, 3, 6)
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * norm.weight
    torch.testing.assert_close(norm(x), expected)
    torch.testing.assert_close(norm(5.0 * x), norm(x), atol=1e-5, rtol=1e-5)  # invariant to rescaling
    # Unlike LayerNorm it does not remove the mean: a constant vector is not sent to zero.
    assert norm(torch.ones(1, 6)).abs().sum() > 0


def test_swiglu_formula_and_paper_hidden_size():
    torch.manual_seed(0)
    ffn = SwiGLU(8, 12)
    x = torch.randn(2, 5, 8)
    W1, W2, W3 = ffn.W_1.weight.T, ffn.W_2.weight.T, ffn.W_3.weight.T
    a = x @ W1
    torch.testing.assert_close(ffn(x), (a * torch.sigmoid(a) * (x @ W3)) @ W2)
    # 2/3 * 4d with Meta's rounding: LLaMA-7B's 11008, 13B's 13824, 65B's 22016.
    assert swiglu_hidden(4096, 256) == 11008 and swiglu_hidden(5120, 256) == 13824
    assert swiglu_hidden(8192, 256) == 22016
    # Three d x 2/3*4d matrices hold as many weights as GELU's two d x 4d ones.
    assert 3 * 4096 * (2 * 4 * 4096 // 3) == pytest.approx(2 * 4096 * 4 * 4096, rel=1e-3)


def test_llama_block_has_no_biases_and_gpt2_block_has_them():
    llama = tiny()
    assert not [n for n, _ in llama.named_parameters() if n.endswith("bias")]
    gpt2 = tiny(**VARIANTS["gpt2"][1])
    assert [n for n, _ in gpt2.named_parameters() if n.endswith("bias")]
    assert llama.pos_embeddings is None and gpt2.pos_embeddings is not None


def test_ablation_variants_have_equal_parameter_counts():
    base = ModelConfig(vocab_size=81, d_model=64, n_layers=4, n_heads=4, max_seq_len=64)
    counts = {name: count_params(cfg) for name, cfg in variant_configs(base, list(VARIANTS)).items()}
    for count in counts.values():
        assert abs(count - counts["gpt2"]) / counts["gpt2"] < 0.005, counts
    # counted on the meta device == counted on real weights
    assert counts["llama"] == n_params(Transformer(variant_configs(base, ["llama"])["llama"]))


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_kv_cache_generation_equals_uncached_generation(n_kv_heads):
    model = tiny(n_kv_heads=n_kv_heads)
    prompt = torch.randint(0, 30, (2, 5))
    cached = model.generate(prompt, 15, use_cache=True)
    uncached = model.generate(prompt, 15, use_cache=False)
    assert torch.equal(cached, uncached)
    # and with sampling, the same random stream gives the same tokens
    a = model.generate(prompt, 15, temperature=1.0, generator=torch.Generator().manual_seed(3))
    b = model.generate(prompt, 15, temperature=1.0, use_cache=False, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_cached_logits_equal_full_forward_logits():
    model = tiny(n_kv_heads=2)
    idx = torch.randint(0, 30, (2, 11))
    full, _ = model(idx)
    first, cache = model(idx[:, :6])
    rest, _ = model(idx[:, 6:], cache)  # several new tokens at once after a cache: needs the offset mask
    torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-5, rtol=1e-5)


def test_grouped_query_attention_equals_mha_with_repeated_kv_heads():
    torch.manual_seed(0)
    gqa = Attention(ModelConfig(**{**TINY, "n_kv_heads": 2}))
    mha = Attention(ModelConfig(**TINY))
    d_head = 8
    with torch.no_grad():
        mha.W_q.weight.copy_(gqa.W_q.weight)
        mha.W_o.weight.copy_(gqa.W_o.weight)
        for name in ("W_k", "W_v"):  # kv head j serves query heads 2j and 2j + 1
            w = getattr(gqa, name).weight.view(2, d_head, 32)
            getattr(mha, name).weight.copy_(w.repeat_interleave(2, dim=0).reshape(32, 32))
    cos, sin = rope_angles(7, d_head)
    x = torch.randn(2, 7, 32)
    torch.testing.assert_close(gqa(x, cos, sin)[0], mha(x, cos, sin)[0], atol=1e-6, rtol=1e-5)
    assert n_params(gqa) < n_params(mha)


def test_attention_matches_the_explicit_softmax_formula():
    torch.manual_seed(0)
    attn = Attention(ModelConfig(**TINY))
    x = torch.randn(1, 6, 32)
    cos, sin = rope_angles(6, 8)
    q = apply_rope(attn.W_q(x).view(1, 6, 4, 8).transpose(1, 2), cos, sin)
    k = apply_rope(attn.W_k(x).view(1, 6, 4, 8).transpose(1, 2), cos, sin)
    v = attn.W_v(x).view(1, 6, 4, 8).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(8)
    scores = scores.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(1, 6, 32)
    torch.testing.assert_close(attn(x, cos, sin)[0], attn.W_o(out), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_gradient_reaches_every_parameter(name):
    model = tiny(**VARIANTS[name][1]).train()
    idx = torch.randint(0, 30, (2, 12))
    logits, _ = model(idx)
    F.cross_entropy(logits.flatten(0, 1), torch.randint(0, 30, (24,))).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"d_model": 30}, r"d_model \(30\) must be divisible by n_heads \(4\)"),
        ({"n_kv_heads": 3}, r"n_heads \(4\) must be divisible by n_kv_heads \(3\)"),
        ({"d_model": 12, "n_heads": 4}, "d_head .3. must be even"),
        ({"norm": "batchnorm"}, "norm must be one of"),
        ({"mlp": "relu"}, "mlp must be one of"),
        ({"n_layers": 0}, "n_layers must be >= 1"),
        ({"norm_eps": 0.0}, "must be > 0"),
    ],
)
def test_impossible_config_is_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**TINY, **overrides})


def test_bad_input_is_rejected():
    model = tiny()
    with pytest.raises(ValueError, match=r"idx must be token ids \[batch, seq\]"):
        model(torch.randint(0, 30, (2, 3, 4)))
    with pytest.raises(ValueError, match="exceeds max_seq_len 24"):
        model(torch.randint(0, 30, (1, 25)))
    with pytest.raises(ValueError, match="exceeds max_seq_len 24"):
        model.generate(torch.randint(0, 30, (1, 20)), 5)
    with pytest.raises(ValueError, match="model.variants must be"):
        variant_configs(ModelConfig(**TINY), ["gpt3"])
