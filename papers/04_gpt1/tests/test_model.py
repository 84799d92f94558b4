"""Unit tests: shapes, the causal mask, the paper's stated choices, gradient flow, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from gpt1.model import (
    GPT,
    Block,
    ClassifierHead,
    FeedForward,
    GPTClassifier,
    GPTConfig,
    attention_weights,
    extract_state,
    lm_loss,
    multiple_choice_logits,
    similarity_logits,
)


def ids_for(cfg, batch=3, seq=10, seed=0):
    return torch.randint(0, cfg.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(seed))


def test_shapes(tiny_gpt, tiny_cfg):
    ids = ids_for(tiny_cfg)
    h = tiny_gpt(ids)
    assert h.shape == (3, 10, tiny_cfg.d_model)
    assert tiny_gpt.lm_logits(h).shape == (3, 10, tiny_cfg.vocab_size)
    head = ClassifierHead(tiny_cfg.d_model, 2, dropout=0.0)
    assert head(h, torch.tensor([9, 4, 0])).shape == (3, 2)


def test_causal_mask_hides_future(tiny_gpt, tiny_cfg):
    ids = ids_for(tiny_cfg)
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % tiny_cfg.vocab_size
    a, b = tiny_gpt.lm_logits(tiny_gpt(ids)), tiny_gpt.lm_logits(tiny_gpt(changed))
    torch.testing.assert_close(a[:, :6], b[:, :6])  # logits at t < 6 never saw tokens 6..
    assert not torch.allclose(a[:, 6:], b[:, 6:])  # later positions do


def test_attention_weights_are_causal_distributions(tiny_gpt, tiny_cfg):
    x = torch.randn(2, 7, tiny_cfg.d_model)
    w = attention_weights(tiny_gpt.blocks[0].attn, x)  # [batch, H, seq, seq]
    assert w.shape == (2, tiny_cfg.n_heads, 7, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, tiny_cfg.n_heads, 7))
    assert torch.all(w.triu(1) == 0)  # no weight on any future key
    torch.testing.assert_close(w[..., 0, 0], torch.ones(2, tiny_cfg.n_heads))  # the first token sees only itself


def test_fused_attention_equals_the_written_out_formula(tiny_gpt, tiny_cfg):
    attn = tiny_gpt.blocks[0].attn
    x = torch.randn(2, 7, tiny_cfg.d_model)
    w = attention_weights(attn, x)
    v = attn._split_heads(attn.W_v(x))
    by_hand = attn.W_o((w @ v).transpose(1, 2).reshape(2, 7, -1))
    torch.testing.assert_close(attn(x), by_hand, atol=1e-6, rtol=1e-5)


def test_block_is_post_ln(tiny_cfg):
    # LayerNorm sits after each residual add, so every output row of a block has mean 0 and
    # variance 1 (LayerNorm's gain and bias start at 1 and 0), whatever the input's scale.
    torch.manual_seed(0)
    block = Block(tiny_cfg).eval()
    out = block(5.0 + 3.0 * torch.randn(2, 6, tiny_cfg.d_model))
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(2, 6), atol=1e-3, rtol=0)
    # ... and it is exactly LN(h + FFN(h)) with h = LN(x + Attn(x)).
    x = torch.randn(2, 6, tiny_cfg.d_model)
    h = block.ln_1(x + block.attn(x))
    torch.testing.assert_close(block(x), block.ln_2(h + block.ffn(h)))


def test_feed_forward_uses_tanh_gelu(tiny_cfg):
    torch.manual_seed(0)
    ffn = FeedForward(tiny_cfg)
    x = torch.randn(4, tiny_cfg.d_model)
    u = ffn.W_1(x)
    gelu = 0.5 * u * (1 + torch.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u**3)))
    torch.testing.assert_close(ffn(x), ffn.W_2(gelu), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(ffn(x), ffn.W_2(F.relu(u)))


def test_positions_are_learned_and_used(tiny_gpt, tiny_cfg):
    assert isinstance(tiny_gpt.W_p, torch.nn.Embedding) and tiny_gpt.W_p.weight.requires_grad
    assert tiny_gpt.W_p.weight.shape == (tiny_cfg.n_positions, tiny_cfg.d_model)
    ids = torch.full((1, 5), 3)  # the same token five times: only the positions tell them apart
    h = tiny_gpt(ids)
    assert not torch.allclose(h[0, 0], h[0, 1])


def test_output_layer_is_the_token_embedding(tiny_gpt, tiny_cfg):
    shaped_like_vocab = [n for n, p in tiny_gpt.named_parameters() if p.shape[0] == tiny_cfg.vocab_size]
    assert shaped_like_vocab == ["W_e.weight"]  # no separate output projection
    h = torch.randn(2, 3, tiny_cfg.d_model)
    torch.testing.assert_close(tiny_gpt.lm_logits(h), h @ tiny_gpt.W_e.weight.T)


def test_initialisation_is_normal_0_02():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=500, n_positions=64, d_model=64, n_heads=4, d_ff=256, n_layers=2))
    assert gpt.W_e.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert gpt.blocks[0].ffn.W_1.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.all(gpt.blocks[0].attn.W_q.bias == 0) and torch.all(gpt.blocks[0].ln_1.weight == 1)


def test_classifier_reads_the_extract_token_and_ignores_padding(tiny_cfg):
    torch.manual_seed(0)
    clf = GPTClassifier(tiny_cfg, n_classes=2, clf_dropout=0.0).eval()
    ids = ids_for(tiny_cfg, batch=2, seq=8)
    logits, _ = clf(ids, torch.tensor([7, 7]))
    padded = torch.cat([ids, torch.full((2, 5), 1)], dim=1)  # anything after the extract token
    logits_padded, _ = clf(padded, torch.tensor([7, 7]))
    torch.testing.assert_close(logits, logits_padded, atol=1e-5, rtol=1e-5)
    h = clf.gpt(ids)
    torch.testing.assert_close(extract_state(h, torch.tensor([7, 3])), torch.stack([h[0, 7], h[1, 3]]))


def test_similarity_is_symmetric(tiny_gpt, tiny_cfg):
    head = ClassifierHead(tiny_cfg.d_model, 2, dropout=0.0)
    a, b = ids_for(tiny_cfg, 2, 6, seed=1), ids_for(tiny_cfg, 2, 6, seed=2)
    pos = torch.tensor([5, 5])
    torch.testing.assert_close(similarity_logits(tiny_gpt, head, a, pos, b, pos),
                               similarity_logits(tiny_gpt, head, b, pos, a, pos))


def test_multiple_choice_scores_each_answer_independently(tiny_gpt, tiny_cfg):
    head = ClassifierHead(tiny_cfg.d_model, 1, dropout=0.0)
    ids = ids_for(tiny_cfg, 6, 7).view(2, 3, 7)  # [batch, K, seq]
    pos = torch.full((2, 3), 6)
    scores = multiple_choice_logits(tiny_gpt, head, ids, pos)
    assert scores.shape == (2, 3)
    flipped = multiple_choice_logits(tiny_gpt, head, ids.flip(1), pos)  # reorder the answers
    torch.testing.assert_close(flipped, scores.flip(1))


def test_greedy_generation_appends_the_argmax(tiny_gpt, tiny_cfg):
    prompt = ids_for(tiny_cfg, 2, 4)
    out = tiny_gpt.generate(prompt, 5)
    assert out.shape == (2, 9) and torch.equal(out[:, :4], prompt)
    for t in range(4, 9):
        expected = tiny_gpt.lm_logits(tiny_gpt(out[:, :t]))[:, -1].argmax(-1)
        assert torch.equal(out[:, t], expected)
    assert tiny_gpt.generate(prompt, 20).shape == (2, 24)  # longer than n_positions: the window slides


def test_lm_loss_is_next_token_cross_entropy_and_skips_padding(tiny_gpt, tiny_cfg):
    ids = ids_for(tiny_cfg, 2, 9) % (tiny_cfg.vocab_size - 1)  # the last id is kept for padding
    logits = tiny_gpt.lm_logits(tiny_gpt(ids))
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, tiny_cfg.vocab_size), ids[:, 1:].reshape(-1))
    torch.testing.assert_close(lm_loss(tiny_gpt, ids), expected)
    pad = tiny_cfg.vocab_size - 1
    padded = torch.cat([ids, torch.full((2, 4), pad)], dim=1)
    torch.testing.assert_close(lm_loss(tiny_gpt, padded, ignore_id=pad), expected, atol=1e-5, rtol=1e-5)


def test_gradient_reaches_every_parameter(tiny_cfg):
    torch.manual_seed(0)
    clf = GPTClassifier(tiny_cfg, n_classes=2)
    ids = ids_for(tiny_cfg, 3, tiny_cfg.n_positions)  # every position row of W_p in use
    logits, h = clf(ids, torch.tensor([15, 9, 4]))
    (F.cross_entropy(logits, torch.tensor([0, 1, 1])) + 0.5 * lm_loss(clf.gpt, ids, h=h)).backward()
    for name, p in clf.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 30, "n_heads": 4}, "divisible by n_heads"),
        ({"dropout": 1.0}, "dropout"),
        ({"n_layers": 0}, "n_layers must be >= 1"),
        ({"vocab_size": 0}, "vocab_size must be >= 1"),
    ],
)
def test_impossible_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**({"vocab_size": 20, "d_model": 16, "n_heads": 4} | kwargs))


def test_wrong_inputs_are_rejected(tiny_gpt, tiny_cfg):
    with pytest.raises(ValueError, match=r"ids must be token ids \[batch, seq\]"):
        tiny_gpt(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds n_positions 16"):
        tiny_gpt(torch.zeros(1, 17, dtype=torch.long))
    h = torch.randn(2, 5, tiny_cfg.d_model)
    with pytest.raises(ValueError, match="extract_pos must index the sequence"):
        extract_state(h, torch.tensor([1, 5]))
    with pytest.raises(ValueError, match=r"extract_pos must be \[batch\]"):
        extract_state(h, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"ids must be \[batch, K, seq\]"):
        multiple_choice_logits(tiny_gpt, ClassifierHead(tiny_cfg.d_model, 1), torch.zeros(2, 5, dtype=torch.long),
                               torch.zeros(2, dtype=torch.long))
