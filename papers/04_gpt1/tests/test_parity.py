"""Parity with Hugging Face `transformers` GPT-1 (random weights, fp32), through gpt1.convert.from_hf.

The reference is built from a small OpenAIGPTConfig; nothing is downloaded.
"""

import pytest
import torch
from gpt1.convert import config_from_hf, from_hf
from gpt1.model import ClassifierHead, multiple_choice_logits

transformers = pytest.importorskip("transformers")


def hf_config(**kw):
    # afn "gelu" is the tanh-approximated GELU in transformers' OpenAIGPT, as in the paper's code.
    args = dict(vocab_size=41, n_positions=24, n_embd=32, n_layer=3, n_head=4, afn="gelu",
                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0)
    return transformers.OpenAIGPTConfig(**(args | kw))


def random_ids(vocab, batch=3, seq=24, seed=0):
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


def randomise_(model):
    # HF initialises LayerNorm to (1, 0) and biases to 0; random values make the test see every tensor.
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)


def test_hidden_states_match_openai_gpt_model():
    torch.manual_seed(0)
    hf = transformers.OpenAIGPTModel(hf_config()).eval()
    randomise_(hf)
    ours = from_hf(hf).eval()
    ids = random_ids(41)
    expected = hf(input_ids=ids).last_hidden_state
    torch.testing.assert_close(ours(ids), expected, atol=1e-5, rtol=1e-5)


def test_lm_logits_match_openai_gpt_lm_head_model_with_tied_embedding():
    torch.manual_seed(0)
    hf = transformers.OpenAIGPTLMHeadModel(hf_config()).eval()
    randomise_(hf)
    ours = from_hf(hf).eval()
    assert hf.lm_head.weight.data_ptr() == hf.transformer.tokens_embed.weight.data_ptr()  # tied in HF too
    ids = random_ids(41, seed=2)
    out = hf(input_ids=ids, labels=ids)
    torch.testing.assert_close(ours.lm_logits(ours(ids)), out.logits, atol=1e-5, rtol=1e-5)
    # HF's LM loss is the mean next-token cross-entropy: our L_1 (no padding here) is the same number.
    from gpt1.model import lm_loss

    torch.testing.assert_close(lm_loss(ours, ids), out.loss, atol=1e-5, rtol=1e-5)


def test_multiple_choice_head_matches_double_heads_model():
    # OpenAIGPTDoubleHeadsModel scores each [start] context $ answer [extract] sequence at its
    # extract position (cls_index) with a Linear(d_model, 1): our ClassifierHead with one output.
    torch.manual_seed(0)
    hf = transformers.OpenAIGPTDoubleHeadsModel(hf_config(num_labels=1)).eval()
    randomise_(hf)
    ours = from_hf(hf).eval()
    head = ClassifierHead(32, 1, dropout=0.0)
    with torch.no_grad():
        head.W_y.weight.copy_(hf.multiple_choice_head.summary.weight)
        head.W_y.bias.copy_(hf.multiple_choice_head.summary.bias)
    ids = random_ids(41, batch=2 * 3, seq=10, seed=3).view(2, 3, 10)  # [batch, K answers, seq]
    extract = torch.tensor([[9, 7, 5], [8, 9, 6]])
    expected = hf(input_ids=ids, mc_token_ids=extract).mc_logits  # [batch, K]
    torch.testing.assert_close(multiple_choice_logits(ours, head, ids, extract), expected, atol=1e-5, rtol=1e-5)


def test_special_token_rows_are_appended_and_the_rest_unchanged():
    torch.manual_seed(0)
    hf = transformers.OpenAIGPTModel(hf_config()).eval()
    ours = from_hf(hf, n_special=3).eval()
    assert ours.W_e.weight.shape == (44, 32)
    torch.testing.assert_close(ours.W_e.weight[:41], hf.tokens_embed.weight)
    ids = random_ids(41, seed=4)  # only original tokens: same hidden states as without the new rows
    torch.testing.assert_close(ours(ids), hf(input_ids=ids).last_hidden_state, atol=1e-5, rtol=1e-5)


def test_conv1d_weights_are_transposed_into_linear_layers():
    torch.manual_seed(0)
    hf = transformers.OpenAIGPTModel(hf_config()).eval()
    ours = from_hf(hf)
    c_attn = hf.h[0].attn.c_attn.weight  # Conv1D: [in = d_model, out = 3 d_model]
    assert c_attn.shape == (32, 96)
    torch.testing.assert_close(ours.blocks[0].attn.W_k.weight, c_attn[:, 32:64].T)


def test_the_papers_configuration_converts():
    cfg = config_from_hf(transformers.OpenAIGPTConfig())  # the defaults are GPT-1's own sizes
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.n_positions) == (12, 768, 12, 3072, 512)
    assert cfg.vocab_size == 40478


def test_other_activation_is_rejected():
    with pytest.raises(ValueError, match="afn 'relu'"):
        config_from_hf(hf_config(afn="relu"))
