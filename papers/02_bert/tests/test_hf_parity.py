"""Parity with Hugging Face `transformers` BERT, random weights, fp32, through our converter.

The reference is built from a small `transformers.BertConfig`, never downloaded. Its weights are
loaded into our modules by `bert.convert.from_hf`, the same function that loads the released
bert-base-uncased weights for users with internet access.
"""

import pytest
import torch
from bert.convert import config_from_hf, from_hf
from bert.model import BertForPreTraining, BertModel

transformers = pytest.importorskip("transformers")


def hf_config(**overrides):
    kwargs = dict(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=24, type_vocab_size=2, attn_implementation="eager")
    return transformers.BertConfig(**{**kwargs, **overrides})


def inputs():
    """ids [3, 12] with two segments; rows 0 and 2 end in padding ([PAD] = id 0, mask 0); id 0 also appears
    as real content (mask 1) in rows 0 and 1, as it can in a ported vocabulary whose id 0 is a real token."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 60, (3, 12), generator=g)
    segments = torch.zeros_like(ids)
    segments[:, 6:] = 1
    attention_mask = torch.ones_like(ids)
    attention_mask[0, 9:] = 0
    attention_mask[2, 4:] = 0
    ids[attention_mask == 0] = 0
    ids[0, 3] = ids[1, 5] = ids[1, 11] = 0  # real tokens that happen to have id 0
    return ids, segments, attention_mask


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_encoder_and_pooler_match_transformers_bert_model(attn):
    torch.manual_seed(0)
    ref = transformers.BertModel(hf_config(attn_implementation=attn)).eval()
    ours = from_hf(ref).eval()
    assert isinstance(ours, BertModel)
    ids, segments, attention_mask = inputs()
    with torch.no_grad():
        expected = ref(input_ids=ids, token_type_ids=segments, attention_mask=attention_mask)
        hidden, pooled, _ = ours(ids, segments, attention_mask)
    real = attention_mask.bool()  # padded positions are never read by anything downstream
    torch.testing.assert_close(hidden[real], expected.last_hidden_state[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pooled, expected.pooler_output, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_id_zero_as_real_content_matches_transformers_bert_model(attn):
    # With an explicit all-ones mask, and with no mask at all, every position is real, id 0 included:
    # Hugging Face (and the released code) attend to all tokens when no mask is given, and so do we.
    torch.manual_seed(2)
    ref = transformers.BertModel(hf_config(attn_implementation=attn)).eval()
    ours = from_hf(ref).eval()
    ids, segments, _ = inputs()
    assert (ids == 0).sum(1).min() >= 1  # every row holds id 0
    ones = torch.ones_like(ids)
    with torch.no_grad():
        expected = ref(input_ids=ids, token_type_ids=segments, attention_mask=ones)
        no_mask = ref(input_ids=ids, token_type_ids=segments)
        for mask in (ones, None):
            hidden, pooled, _ = ours(ids, segments, mask)
            torch.testing.assert_close(hidden, expected.last_hidden_state, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(pooled, expected.pooler_output, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(no_mask.last_hidden_state, expected.last_hidden_state)  # the reference agrees


def test_pretraining_heads_match_transformers_bert_for_pretraining():
    torch.manual_seed(1)
    ref = transformers.BertForPreTraining(hf_config()).eval()
    ours = from_hf(ref).eval()
    assert isinstance(ours, BertForPreTraining)
    assert ours.mlm.token_embedding.weight is ours.bert.embeddings.token.weight  # still tied after loading
    ids, segments, attention_mask = inputs()
    with torch.no_grad():
        expected = ref(input_ids=ids, token_type_ids=segments, attention_mask=attention_mask)
        mlm, nsp = ours(ids, segments, attention_mask)
    real = attention_mask.bool()
    torch.testing.assert_close(mlm[real], expected.prediction_logits[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(nsp, expected.seq_relationship_logits, atol=1e-5, rtol=1e-5)


def test_config_is_translated_field_by_field():
    cfg = config_from_hf(hf_config(hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.3, layer_norm_eps=1e-6))
    assert (cfg.vocab_size, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.n_layers, cfg.max_len, cfg.n_segments) == (
        60, 32, 4, 64, 2, 24, 2)
    assert (cfg.dropout, cfg.attention_dropout, cfg.layer_norm_eps) == (0.2, 0.3, 1e-6)


def test_unsupported_reference_is_rejected_with_a_clear_error():
    with pytest.raises(ValueError, match="hidden_act 'relu' is not supported"):
        from_hf(transformers.BertModel(hf_config(hidden_act="relu")))
    with pytest.raises(ValueError, match="pooler"):
        from_hf(transformers.BertModel(hf_config(), add_pooling_layer=False))
