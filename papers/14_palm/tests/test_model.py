"""Unit tests: shapes, causality, the paper's architectural choices as invariants, gradient flow, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from palm.model import (
    KVCache,
    MultiQueryAttention,
    PaLM,
    PaLMConfig,
    ParallelBlock,
    SerialBlock,
    SwiGLU,
    apply_rope,
    rope_angles,
)


def test_forward_shape(tiny_model, random_ids):
    assert tiny_model(random_ids()).shape == (3, 10, 20)


def test_causal_logits_ignore_later_tokens(tiny_model, random_ids):
    ids = random_ids()
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    a, b = tiny_model(ids), tiny_model(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6])  # positions 0..5 never saw tokens 6..
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def copy_mqa_into_mha(mqa: MultiQueryAttention, mha: MultiQueryAttention) -> None:
    """MHA whose H key heads and H value heads are all copies of MQA's single K and V head."""
    with torch.no_grad():
        mha.W_q.weight.copy_(mqa.W_q.weight)
        mha.W_o.weight.copy_(mqa.W_o.weight)
        mha.W_k.weight.copy_(mqa.W_k.weight.repeat(mha.n_heads, 1))  # [H * d_head, d_model]
        mha.W_v.weight.copy_(mqa.W_v.weight.repeat(mha.n_heads, 1))


@pytest.mark.parametrize("need_weights", [False, True])
def test_multi_query_equals_multi_head_with_copied_kv_heads(need_weights):
    torch.manual_seed(0)
    mqa, mha = MultiQueryAttention(32, 4, multi_query=True), MultiQueryAttention(32, 4, multi_query=False)
    copy_mqa_into_mha(mqa, mha)
    x = torch.randn(2, 9, 32)
    cos, sin = rope_angles(9, 8)
    got, want = mqa(x, cos, sin, need_weights=need_weights), mha(x, cos, sin, need_weights=need_weights)
    if need_weights:
        (got, got_w), (want, want_w) = got, want
        torch.testing.assert_close(got_w, want_w, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_multi_query_has_one_key_and_value_head():
    mqa, mha = MultiQueryAttention(32, 4, multi_query=True), MultiQueryAttention(32, 4, multi_query=False)
    assert mqa.W_k.weight.shape == mqa.W_v.weight.shape == (8, 32)  # d_head x d_model: one head
    assert mha.W_k.weight.shape == (32, 32)
    assert mqa.W_q.weight.shape == mha.W_q.weight.shape == (32, 32)  # H query heads in both


@pytest.mark.parametrize("multi_query", [True, False])
def test_fused_and_explicit_attention_agree(multi_query):
    torch.manual_seed(0)
    attn = MultiQueryAttention(32, 4, multi_query)
    x = torch.randn(2, 7, 32)
    cos, sin = rope_angles(7, 8)
    explicit, weights = attn(x, cos, sin, need_weights=True)
    torch.testing.assert_close(attn(x, cos, sin), explicit, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 7))
    assert torch.all(weights.triu(diagonal=1) == 0)  # causal: no weight on later positions


def test_parallel_block_is_x_plus_attention_plus_mlp_of_one_shared_norm(tiny_cfg):
    torch.manual_seed(0)
    block = ParallelBlock(tiny_cfg())
    with torch.no_grad():
        block.norm.weight.uniform_(0.5, 1.5)  # a non-trivial scale, so sharing it is visible
    x = torch.randn(2, 5, 16)
    cos, sin = rope_angles(5, 4)
    h = F.layer_norm(x, (16,), block.norm.weight)
    torch.testing.assert_close(block(x, cos, sin), x + block.attn(h, cos, sin) + block.mlp(h))
    assert [n for n, _ in block.named_children()] == ["norm", "attn", "mlp"]  # one LayerNorm only


def test_serial_block_feeds_attention_output_to_the_mlp(tiny_cfg):
    torch.manual_seed(0)
    block = SerialBlock(tiny_cfg(block="serial"))
    x = torch.randn(2, 5, 16)
    cos, sin = rope_angles(5, 4)
    mid = x + block.attn(block.norm1(x), cos, sin)
    torch.testing.assert_close(block(x, cos, sin), mid + block.mlp(block.norm2(mid)))


def test_parallel_and_serial_models_differ_only_by_one_norm_per_layer(tiny_cfg):
    cfg_p, cfg_s = tiny_cfg(block="parallel"), tiny_cfg(block="serial")
    n_p = sum(p.numel() for p in PaLM(cfg_p).parameters())
    n_s = sum(p.numel() for p in PaLM(cfg_s).parameters())
    assert n_s - n_p == cfg_p.n_layers * cfg_p.d_model


def test_swiglu_formula():
    torch.manual_seed(0)
    mlp = SwiGLU(6, 10)
    x = torch.randn(3, 6)
    swish = lambda z: z * torch.sigmoid(z)  # noqa: E731
    want = (swish(x @ mlp.W.weight.T) * (x @ mlp.V.weight.T)) @ mlp.W_2.weight.T
    torch.testing.assert_close(mlp(x), want)


def test_no_biases_anywhere(tiny_model):
    assert not [n for n, _ in tiny_model.named_parameters() if "bias" in n]
    for m in tiny_model.modules():
        if isinstance(m, torch.nn.Linear | torch.nn.LayerNorm):
            assert m.bias is None


def test_input_and_output_embeddings_are_shared(tiny_model):
    vocab_shaped = [n for n, p in tiny_model.named_parameters() if p.shape == tiny_model.embed.weight.shape]
    assert vocab_shaped == ["embed.weight"]
    # Nudging one embedding row changes that token's output logit even where the token is not in the input.
    ids = torch.zeros(1, 4, dtype=torch.long)
    before = tiny_model(ids)
    with torch.no_grad():
        tiny_model.embed.weight[7] += torch.linspace(-1.0, 1.0, 16)  # not constant: LayerNorm outputs sum to 0
    after = tiny_model(ids)
    assert not torch.allclose(before[..., 7], after[..., 7])
    torch.testing.assert_close(before[..., :7], after[..., :7])


def test_logits_are_final_state_times_embedding_over_sqrt_d_model(tiny_model, random_ids):
    ids = random_ids(seq=5)
    captured = {}
    hook = tiny_model.norm.register_forward_hook(lambda m, i, o: captured.setdefault("h", o))
    logits = tiny_model(ids)
    hook.remove()
    torch.testing.assert_close(logits, captured["h"] @ tiny_model.embed.weight.T / math.sqrt(16))


def test_initialisation_follows_section_5():
    torch.manual_seed(0)
    model = PaLM(PaLMConfig(vocab_size=200, d_model=128, n_heads=4, n_layers=2))
    assert model.embed.weight.std().item() == pytest.approx(1.0, rel=0.02)  # E ~ N(0, 1)
    w = model.blocks[0].mlp.W_2.weight  # fan-in d_ff = 512
    assert w.std().item() == pytest.approx(512**-0.5, rel=0.02)  # W ~ N(0, 1 / n_in)
    assert torch.all(model.blocks[0].norm.weight == 1)


def test_rope_preserves_length_and_depends_only_on_offset():
    torch.manual_seed(0)
    cos, sin = rope_angles(64, 8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    at = lambda x, m: apply_rope(x, cos[m : m + 1], sin[m : m + 1])  # noqa: E731
    torch.testing.assert_close(at(q, 13).norm(), q.norm())  # a rotation keeps the length
    # <R_m q, R_n k> depends on m - n only: the attention score sees relative position.
    s1 = (at(q, 10) * at(k, 3)).sum()
    s2 = (at(q, 40) * at(k, 33)).sum()
    torch.testing.assert_close(s1, s2, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(s1, (at(q, 10) * at(k, 4)).sum())


def test_rope_angle_formula():
    cos, sin = rope_angles(10, 8, base=10_000.0)
    m, i = 7, 2
    theta = 10_000.0 ** (-2 * i / 8)
    assert cos[m, i].item() == pytest.approx(math.cos(m * theta), abs=1e-6)
    assert sin[m, i].item() == pytest.approx(math.sin(m * theta), abs=1e-6)


@pytest.mark.parametrize("multi_query", [True, False])
def test_gradient_reaches_every_parameter(block, multi_query, tiny_cfg, random_ids):
    torch.manual_seed(0)
    model = PaLM(tiny_cfg(block=block, multi_query=multi_query))
    model(random_ids()).logsumexp(-1).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 30, "n_heads": 4}, "divisible by n_heads"),
        ({"d_model": 12, "n_heads": 4}, "must be even"),
        ({"block": "sideways"}, "block must be one of"),
        ({"n_layers": 0}, "n_layers must be >= 1"),
        ({"vocab_size": 0}, "vocab_size must be >= 1"),
    ],
)
def test_impossible_config_is_rejected(kwargs, message, tiny_cfg):
    with pytest.raises(ValueError, match=message):
        tiny_cfg(**kwargs)


def test_wrong_input_is_rejected(tiny_model):
    with pytest.raises(ValueError, match=r"ids must be token ids \[batch, seq\]"):
        tiny_model(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds max_len 32"):
        tiny_model(torch.zeros(1, 33, dtype=torch.long))
    cos, sin = rope_angles(3, 4)
    with pytest.raises(ValueError, match=r"x must be \[batch, seq, 16\]"):
        MultiQueryAttention(16, 4)(torch.randn(2, 3, 8), cos, sin)
    with pytest.raises(ValueError, match="cache has 1 layers, the model 2"):
        tiny_model(torch.zeros(1, 3, dtype=torch.long), [KVCache()])
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        tiny_model.generate(torch.zeros(1, 3, dtype=torch.long), 2, temperature=-1.0)
