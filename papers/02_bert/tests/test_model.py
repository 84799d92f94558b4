"""Unit tests: shapes, bidirectionality, padding, the tied MLM decoder, the pooler, gradient flow, bad input."""

import pytest
import torch
from bert.model import (
    BertConfig,
    BertForPreTraining,
    BertForSequenceClassification,
    BertModel,
    MultiHeadSelfAttention,
)


def test_forward_shapes(tiny_model, tiny_cfg, batch):
    ids, segments = batch
    h, pooled, maps = tiny_model.bert(ids, segments, need_weights=True)
    assert h.shape == (3, 10, tiny_cfg.d_model) and pooled.shape == (3, tiny_cfg.d_model)
    assert [m.shape for m in maps] == [(3, tiny_cfg.n_heads, 10, 10)] * tiny_cfg.n_layers
    mlm, nsp = tiny_model(ids, segments)
    assert mlm.shape == (3, 10, tiny_cfg.vocab_size) and nsp.shape == (3, 2)


def test_every_position_sees_tokens_to_its_right(tiny_model, batch):
    # The point of BERT: no causal mask. Changing the last real token of row 1 changes position 0.
    ids, segments = batch
    changed = ids.clone()
    changed[1, 9] = 5 if ids[1, 9] != 5 else 6
    a, _, _ = tiny_model.bert(ids, segments)
    b, _, _ = tiny_model.bert(changed, segments)
    assert not torch.allclose(a[1, 0], b[1, 0], atol=1e-6)
    torch.testing.assert_close(a[0], b[0])  # other rows untouched


def test_padding_is_invisible(tiny_model, batch):
    ids, segments = batch
    h, pooled, maps = tiny_model.bert(ids, segments, padding_mask=ids != 0, need_weights=True)
    assert torch.all(maps[0][0, :, :, 7:] == 0) and torch.all(maps[1][2, :, :, 5:] == 0)
    # Changing what sits in padded slots changes nothing at real positions.
    other = ids.clone()
    other[0, 7:] = 9
    h2, pooled2, _ = tiny_model.bert(other, segments, padding_mask=ids != 0)
    torch.testing.assert_close(h2[0, :7], h[0, :7])
    torch.testing.assert_close(pooled2, pooled)


def test_without_a_padding_mask_every_token_is_real(tiny_model, batch):
    # Padding is never guessed from the ids: no mask means "attend to everything", id 0 included,
    # as in the released code and Hugging Face's BertModel. The caller (our collate) passes the mask.
    ids, segments = batch
    h, _, maps = tiny_model.bert(ids, segments, need_weights=True)
    h_ones, _, _ = tiny_model.bert(ids, segments, padding_mask=torch.ones_like(ids))
    torch.testing.assert_close(h, h_ones)
    assert torch.all(maps[0][0, :, :, 7:] > 0)  # the id-0 slots of row 0 are attended to
    h_masked, _, _ = tiny_model.bert(ids, segments, padding_mask=ids != 0)
    assert not torch.allclose(h[0, :7], h_masked[0, :7])  # and masking them does change the real positions
    torch.testing.assert_close(h[1], h_masked[1])  # row 1 has no id 0: the same either way


def test_segment_embeddings_change_the_output(tiny_model, batch):
    ids, segments = batch
    a, _, _ = tiny_model.bert(ids, segments)
    b, _, _ = tiny_model.bert(ids, torch.zeros_like(segments))
    assert not torch.allclose(a[1], b[1])
    torch.testing.assert_close(a[:, :4], tiny_model.bert(ids, segments)[0][:, :4])


def test_mlm_decoder_is_tied_to_the_token_embedding(tiny_model):
    assert tiny_model.mlm.token_embedding.weight is tiny_model.bert.embeddings.token.weight
    n_unique = sum(p.numel() for p in tiny_model.parameters())
    n_listed = sum(t.numel() for k, t in tiny_model.state_dict().items())
    assert n_listed - n_unique == tiny_model.cfg.vocab_size * tiny_model.cfg.d_model  # stored once


def test_scoring_only_masked_positions_equals_scoring_all(tiny_model, batch):
    ids, segments = batch
    masked = torch.zeros_like(ids, dtype=torch.bool)
    masked[0, 2], masked[1, 5], masked[2, 1] = True, True, True
    full, _ = tiny_model(ids, segments)
    picked, _ = tiny_model(ids, segments, masked=masked)
    torch.testing.assert_close(picked, full[masked])


def test_pooler_is_tanh_of_the_cls_vector(tiny_model, batch):
    ids, segments = batch
    h, pooled, _ = tiny_model.bert(ids, segments)
    torch.testing.assert_close(pooled, torch.tanh(tiny_model.bert.W_pool(h[:, 0])))
    assert pooled.abs().max() < 1


def test_embeddings_are_layer_normalised(tiny_model, batch):
    ids, segments = batch
    e = tiny_model.bert.embeddings(ids, segments)
    torch.testing.assert_close(e.mean(-1), torch.zeros(3, 10), atol=1e-5, rtol=0)
    torch.testing.assert_close(e.var(-1, unbiased=False), torch.ones(3, 10), atol=1e-3, rtol=0)


def test_initialisation_follows_the_released_code(tiny_cfg):
    torch.manual_seed(0)
    model = BertModel(BertConfig(**{**tiny_cfg.__dict__, "d_model": 64, "d_ff": 128}))
    w = model.layers[0].ffn.W_1.weight
    assert w.abs().max() <= 0.04 + 1e-7  # truncated at 2 std
    assert w.std().item() == pytest.approx(0.0176, rel=0.1)  # std of N(0, 0.02) truncated at +-2 std
    assert torch.all(model.layers[0].ffn.W_1.bias == 0)


def test_fused_and_explicit_attention_agree(tiny_cfg):
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(tiny_cfg).eval()
    x = torch.randn(2, 6, tiny_cfg.d_model)
    mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    mask[1, ..., 4:] = False
    fused, none = attn(x, mask)
    explicit, weights = attn(x, mask, need_weights=True)
    assert none is None
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, tiny_cfg.n_heads, 6))


def test_all_padding_row_is_finite_and_both_attention_paths_agree(tiny_cfg):
    # A row whose keys are all padding has nothing to attend to. softmax over a row of -inf is 0/0 = NaN
    # on the explicit path, while the fused kernel returns finite values: the two paths must agree.
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(tiny_cfg).eval()
    x = torch.randn(3, 6, tiny_cfg.d_model)
    mask = torch.ones(3, 1, 1, 6, dtype=torch.bool)
    mask[1] = False  # row 1: every key is padding
    mask[2, ..., 3:] = False
    fused, _ = attn(x, mask)
    explicit, weights = attn(x, mask, need_weights=True)
    assert torch.isfinite(fused).all() and torch.isfinite(explicit).all() and torch.isfinite(weights).all()
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
    # The row attends to nothing: zero weights, so its attention output is W_o's bias alone.
    assert torch.all(weights[1] == 0)
    torch.testing.assert_close(explicit[1], attn.W_o.bias.expand(6, -1))
    (fused.sum() + explicit.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in attn.parameters())
    # And through the whole model, an all-padding sequence in a batch leaves the other rows untouched.
    model = BertModel(tiny_cfg).eval()
    ids = torch.randint(5, tiny_cfg.vocab_size, (2, 8))
    keep = torch.ones_like(ids, dtype=torch.bool)
    keep[1] = False
    for need_weights in (False, True):
        h, pooled, _ = model(ids, padding_mask=keep, need_weights=need_weights)
        assert torch.isfinite(h).all() and torch.isfinite(pooled).all()
        alone, _, _ = model(ids[:1], need_weights=need_weights)
        torch.testing.assert_close(h[:1], alone, atol=1e-5, rtol=1e-5)
    fused_h, _, _ = model(ids, padding_mask=keep)
    explicit_h, _, _ = model(ids, padding_mask=keep, need_weights=True)
    torch.testing.assert_close(fused_h, explicit_h, atol=1e-5, rtol=1e-5)


def test_gradient_reaches_every_parameter(tiny_cfg, batch):
    ids, segments = batch
    torch.manual_seed(0)
    pre = BertForPreTraining(tiny_cfg)
    mlm, nsp = pre(ids, segments)
    (mlm.logsumexp(-1).sum() + nsp.logsumexp(-1).sum()).backward()
    missing = [n for n, p in pre.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []
    cls = BertForSequenceClassification(tiny_cfg, n_classes=3)
    cls(ids, segments).logsumexp(-1).sum().backward()
    # The MLM has no role here, and position rows past the sequence length get no gradient.
    missing = [n for n, p in cls.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == ["bert.embeddings.position.weight"] or missing == []
    assert cls.bert.embeddings.position.weight.grad[:10].abs().sum(-1).gt(0).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"d_model": 30, "n_heads": 4}, r"d_model \(30\) must be divisible by n_heads \(4\)"),
    ({"n_layers": 0}, "n_layers must be >= 1"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
])
def test_impossible_config_is_rejected(tiny_cfg, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BertConfig(**{**tiny_cfg.__dict__, **kwargs})


def test_bad_input_is_rejected(tiny_model, tiny_cfg, batch):
    ids, segments = batch
    with pytest.raises(ValueError, match=r"ids must be token ids \[batch, seq\]"):
        tiny_model.bert(ids[0])
    with pytest.raises(ValueError, match="exceeds max_len 24"):
        tiny_model.bert(torch.ones(1, 25, dtype=torch.long))
    with pytest.raises(ValueError, match="segment_ids shape"):
        tiny_model.bert(ids, segments[:, :5])
    with pytest.raises(ValueError, match="padding_mask shape"):
        tiny_model.bert(ids, segments, padding_mask=torch.ones(3, 4))
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        BertForSequenceClassification(tiny_cfg, n_classes=1)
