"""Parity with Hugging Face `LlamaForCausalLM` through `llama.convert.from_hf`: random weights, fp32,
built from a small LlamaConfig (never downloaded)."""

import pytest
import torch
from llama.convert import config_from_hf, from_hf, hf_to_interleaved, interleaved_to_hf, to_hf_state_dict

transformers = pytest.importorskip("transformers")  # a test-only reference in the root dev group


def hf_model(n_kv_heads: int = 4, tie: bool = False, **extra):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=172, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=n_kv_heads, rms_norm_eps=1e-6,
                                      max_position_embeddings=64, tie_word_embeddings=tie, **extra)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():  # HF starts norm gains at 1; random gains make the test see every norm's weight
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1], ids=["mha", "gqa", "mqa"])
def test_logits_match_llama_for_causal_lm(n_kv_heads):
    hf = hf_model(n_kv_heads)
    ours = from_hf(hf).eval()
    idx = torch.randint(0, 100, (2, 33))
    with torch.no_grad():
        expected = hf(idx).logits
        got, _ = ours(idx)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_tied_embeddings_convert_too():
    hf = hf_model(tie=True)
    ours = from_hf(hf).eval()
    assert ours.output.weight is ours.tok_embeddings.weight
    idx = torch.randint(0, 100, (1, 20))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx)[0], hf(idx).logits, atol=1e-5, rtol=1e-5)


def test_greedy_generation_matches_hf_generate():
    hf = hf_model(2)
    ours = from_hf(hf).eval()
    prompt = torch.randint(3, 100, (1, 6))
    expected = hf.generate(prompt, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(ours.generate(prompt, 12), expected)


def test_without_the_rope_permutation_the_logits_differ():
    # The permutation is needed: copying q/k weights as they are gives different logits.
    hf = hf_model()
    ours = from_hf(hf).eval()
    with torch.no_grad():
        for i, layer in enumerate(ours.layers):
            layer.attention.W_q.weight.copy_(hf.model.layers[i].self_attn.q_proj.weight)
            layer.attention.W_k.weight.copy_(hf.model.layers[i].self_attn.k_proj.weight)
        idx = torch.randint(0, 100, (1, 20))
        assert (ours(idx)[0] - hf(idx).logits).abs().max() > 1e-3


def test_permutation_round_trip_and_state_dict_round_trip():
    w = torch.randn(4 * 16, 64)
    torch.testing.assert_close(interleaved_to_hf(hf_to_interleaved(w, 4), 4), w)
    # one head's rows [a0..a7 | b0..b7] become [a0, b0, a1, b1, ...]
    head = torch.arange(16.0)[:, None]
    assert hf_to_interleaved(head, 1).flatten().tolist()[:4] == [0.0, 8.0, 1.0, 9.0]
    hf = hf_model(2)
    back = to_hf_state_dict(from_hf(hf))
    for name, value in hf.state_dict().items():
        torch.testing.assert_close(back[name], value, msg=name)


def test_unsupported_hf_settings_are_rejected():
    cfg = hf_model().config
    cfg.attention_bias = True
    with pytest.raises(ValueError, match="no biases"):
        config_from_hf(cfg)
    cfg = hf_model().config
    cfg.rope_parameters = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0}
    with pytest.raises(ValueError, match="rope_type 'llama3'"):
        config_from_hf(cfg)
