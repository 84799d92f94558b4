"""Parity with Hugging Face's GPT2LMHeadModel through our converter (random weights, fp32, no download)."""

import pytest
import torch
import transformers  # test-only reference, in the root dev group
from gpt2.convert import from_hf
from gpt2.model import GPT2

SMALL = {"n_layer": 2, "n_head": 4, "n_embd": 64, "vocab_size": 100, "n_positions": 64}


@pytest.fixture(scope="module")
def hf_model():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(**SMALL, bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    model = transformers.GPT2LMHeadModel(cfg).eval()
    # Hugging Face initialises biases and LayerNorms to 0 and 1; randomise them so the test sees every
    # tensor land in the right place (a swapped bias or gain would otherwise go unnoticed).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "ln" in name and name.endswith("weight") else 0.0))
    return model


def tokens(batch=3, t=40, seed=0):
    return torch.randint(0, SMALL["vocab_size"], (batch, t), generator=torch.Generator().manual_seed(seed))


def test_converted_model_has_the_same_logits(hf_model):
    ours = from_hf(hf_model)
    assert isinstance(ours, GPT2) and not ours.training
    assert (ours.cfg.n_layers, ours.cfg.n_heads, ours.cfg.d_model, ours.cfg.n_ctx) == (2, 4, 64, 64)
    x = tokens()
    with torch.no_grad():
        expected = hf_model(x).logits
    torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)


def test_converted_model_has_the_same_parameter_count(hf_model):
    assert from_hf(hf_model).num_params() == hf_model.num_parameters()  # the tied matrix counted once by both


def test_conv1d_weights_are_transposed_into_linear(hf_model):
    ours = from_hf(hf_model)
    hf_w = hf_model.transformer.h[1].mlp.c_fc.weight  # Conv1D: [in = 64, out = 256], applied as x @ W + b
    assert hf_w.shape == (64, 256) and ours.blocks[1].mlp.W_1.weight.shape == (256, 64)
    torch.testing.assert_close(ours.blocks[1].mlp.W_1.weight, hf_w.T)


def test_state_dict_needs_the_head_count(hf_model):
    state = hf_model.state_dict()
    with pytest.raises(ValueError, match="n_heads is required"):
        from_hf(state)
    ours = from_hf(state, n_heads=4)
    x = tokens(seed=1)
    torch.testing.assert_close(ours(x), hf_model(x).logits.detach(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not a GPT-2 state dict"):
        from_hf({"weight": torch.zeros(2, 2)}, n_heads=4)


def test_kv_cache_matches_hugging_face_cache(hf_model):
    ours = from_hf(hf_model)
    x = tokens(batch=2, t=12)
    with torch.no_grad():
        out = hf_model(x[:, :8], use_cache=True)
        hf_next = hf_model(x[:, 8:], past_key_values=out.past_key_values).logits
    _, past = ours.forward_cached(x[:, :8])
    ours_next, _ = ours.forward_cached(x[:, 8:], past)
    torch.testing.assert_close(ours_next, hf_next, atol=1e-5, rtol=1e-5)


def test_greedy_generation_matches_hugging_face_generate(hf_model):
    ours = from_hf(hf_model)
    x = tokens(batch=2, t=5)
    expected = hf_model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=25, do_sample=False,
                                 pad_token_id=0)
    assert torch.equal(ours.generate(x, 25, temperature=0.0), expected)
