"""Load Hugging Face `LlamaForCausalLM` weights into this folder's `Transformer`, and back.

With internet access, a released checkpoint loads like this (the weights are gated: accept Meta's
licence on the Hub and log in with `huggingface-cli login` first):

    from transformers import LlamaForCausalLM
    from llama.convert import from_hf

    hf = LlamaForCausalLM.from_pretrained("meta-llama/Llama-2-7b-hf", torch_dtype="float32")
    model = from_hf(hf)  # our Transformer, same logits as `hf` (tests/test_hf_parity.py checks it)

The tests never download: they build a small random `LlamaConfig` and compare logits.

The one real difference is RoPE's layout. We rotate adjacent pairs (0, 1), (2, 3), ... like Meta's
original code; Hugging Face rotates dimension i together with i + d_head / 2 ("rotate_half").
Both are the same rotation applied to a permuted vector, so permuting the output rows of W_q and
W_k inside every head converts one layout to the other, and the attention scores come out equal.
"""

from __future__ import annotations

import torch
from torch import Tensor

from llama.model import ModelConfig, Transformer


def hf_to_interleaved(w: Tensor, n_heads: int) -> Tensor:
    """Rows of a q/k weight [n_heads * d_head, d_model], per head [first half | second half] ->
    [x_0, x_{d/2}, x_1, x_{d/2+1}, ...]: HF's pair (i, i + d/2) becomes our pair (2i, 2i + 1)."""
    out_dim, in_dim = w.shape
    d_head = out_dim // n_heads
    return w.view(n_heads, 2, d_head // 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def interleaved_to_hf(w: Tensor, n_heads: int) -> Tensor:
    """The inverse of `hf_to_interleaved` (what Meta-to-HF conversion scripts call `permute`)."""
    out_dim, in_dim = w.shape
    d_head = out_dim // n_heads
    return w.view(n_heads, d_head // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def config_from_hf(hf_config) -> ModelConfig:
    """Our ModelConfig from a transformers LlamaConfig; settings we do not implement raise a clear error."""
    rope = getattr(hf_config, "rope_parameters", None) or {}
    rope_type = rope.get("rope_type", "default")
    theta = rope.get("rope_theta", getattr(hf_config, "rope_theta", 10000.0))
    if rope_type != "default":
        raise ValueError(f"rope_type {rope_type!r} (RoPE scaling) is not implemented; only 'default' is")
    if getattr(hf_config, "attention_bias", False) or getattr(hf_config, "mlp_bias", False):
        raise ValueError("LLaMA has no biases; attention_bias / mlp_bias = True is not supported")
    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // hf_config.num_attention_heads
    if head_dim * hf_config.num_attention_heads != hf_config.hidden_size:
        raise ValueError(f"head_dim {head_dim} * heads must equal hidden_size {hf_config.hidden_size}")
    if hf_config.hidden_act != "silu":
        raise ValueError(f"SwiGLU uses SiLU; hidden_act {hf_config.hidden_act!r} is not supported")
    return ModelConfig(
        vocab_size=hf_config.vocab_size, d_model=hf_config.hidden_size, n_layers=hf_config.num_hidden_layers,
        n_heads=hf_config.num_attention_heads, n_kv_heads=hf_config.num_key_value_heads,
        d_ff=hf_config.intermediate_size, max_seq_len=hf_config.max_position_embeddings,
        norm="rmsnorm", mlp="swiglu", positions="rope", bias=False, norm_eps=hf_config.rms_norm_eps,
        rope_theta=float(theta), tie_embeddings=bool(getattr(hf_config, "tie_word_embeddings", False)),
    )


# (our name, HF name) inside layer i; q and k also need the RoPE permutation.
LAYER_NAMES = [
    ("attention.W_q.weight", "self_attn.q_proj.weight"),
    ("attention.W_k.weight", "self_attn.k_proj.weight"),
    ("attention.W_v.weight", "self_attn.v_proj.weight"),
    ("attention.W_o.weight", "self_attn.o_proj.weight"),
    ("feed_forward.W_1.weight", "mlp.gate_proj.weight"),
    ("feed_forward.W_3.weight", "mlp.up_proj.weight"),
    ("feed_forward.W_2.weight", "mlp.down_proj.weight"),
    ("attention_norm.weight", "input_layernorm.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
]


def from_hf(hf_model) -> Transformer:
    """A transformers `LlamaForCausalLM` -> our `Transformer` with the same weights (fp32 copy)."""
    cfg = config_from_hf(hf_model.config)
    sd = {k: v.detach().float() for k, v in hf_model.state_dict().items()}
    ours = {"tok_embeddings.weight": sd["model.embed_tokens.weight"], "norm.weight": sd["model.norm.weight"],
            "output.weight": sd.get("lm_head.weight", sd["model.embed_tokens.weight"])}
    for i in range(cfg.n_layers):
        for our_name, hf_name in LAYER_NAMES:
            w = sd[f"model.layers.{i}.{hf_name}"]
            if our_name.startswith("attention.W_q"):
                w = hf_to_interleaved(w, cfg.n_heads)
            elif our_name.startswith("attention.W_k"):
                w = hf_to_interleaved(w, cfg.n_kv_heads)
            ours[f"layers.{i}.{our_name}"] = w
    model = Transformer(cfg)
    with torch.no_grad():
        model.load_state_dict(ours, strict=True)
    return model


def to_hf_state_dict(model: Transformer) -> dict[str, Tensor]:
    """Our LLaMA-configured `Transformer` -> a state dict that `LlamaForCausalLM.load_state_dict` accepts."""
    cfg = model.cfg
    if (cfg.norm, cfg.mlp, cfg.positions, cfg.bias) != ("rmsnorm", "swiglu", "rope", False):
        raise ValueError("only the full LLaMA block (rmsnorm, swiglu, rope, no bias) has a Hugging Face layout")
    sd = model.state_dict()
    out = {"model.embed_tokens.weight": sd["tok_embeddings.weight"], "model.norm.weight": sd["norm.weight"],
           "lm_head.weight": sd["output.weight"]}
    for i in range(cfg.n_layers):
        for our_name, hf_name in LAYER_NAMES:
            w = sd[f"layers.{i}.{our_name}"]
            if our_name.startswith("attention.W_q"):
                w = interleaved_to_hf(w, cfg.n_heads)
            elif our_name.startswith("attention.W_k"):
                w = interleaved_to_hf(w, cfg.n_kv_heads)
            out[f"model.layers.{i}.{hf_name}"] = w
    return out
