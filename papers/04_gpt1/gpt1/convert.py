"""Load Hugging Face `transformers` GPT-1 weights (OpenAIGPTModel) into this package's `GPT`.

With internet access, the real pre-trained GPT-1 (117M parameters, 40,478 BPE tokens):

    from transformers import OpenAIGPTModel
    from gpt1.convert import from_hf

    gpt = from_hf(OpenAIGPTModel.from_pretrained("openai-community/openai-gpt"), n_special=3)

`n_special=3` appends three freshly initialised rows to W_e for the start, delimiter and extract
tokens, which is what the paper did before fine-tuning. Tests never download: they build a small
random `OpenAIGPTModel` from a config and check that both models compute the same thing.

Two layout differences are handled here:
- Hugging Face's `Conv1D` stores a weight as [in, out] and computes x W + b (the row-vector
  convention); `nn.Linear` stores [out, in] and computes x W^T + b. Every matrix is transposed.
- Hugging Face fuses the query, key and value projections into one `c_attn` of width 3 d_model;
  we keep W_q, W_k and W_v apart, so it is split in three.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gpt1.model import GPT, GPTConfig


def config_from_hf(hf_config, n_special: int = 0) -> GPTConfig:
    """An `OpenAIGPTConfig` -> our `GPTConfig` (d_ff is 4 * d_model in GPT-1)."""
    # transformers' OpenAIGPT maps afn "gelu" to the tanh approximation, which is what FeedForward uses.
    if hf_config.afn not in ("gelu", "gelu_new"):
        raise ValueError(f"afn {hf_config.afn!r} is not GPT-1's GELU; this model only implements GELU (tanh form)")
    return GPTConfig(vocab_size=hf_config.vocab_size + n_special, n_positions=hf_config.n_positions,
                     d_model=hf_config.n_embd, n_heads=hf_config.n_head, d_ff=4 * hf_config.n_embd,
                     n_layers=hf_config.n_layer, dropout=hf_config.resid_pdrop,
                     layer_norm_eps=hf_config.layer_norm_epsilon)


def _base_state_dict(hf_model) -> dict[str, Tensor]:
    """The transformer's weights, whether given OpenAIGPTModel or a model with heads (prefix 'transformer.')."""
    state = hf_model.state_dict()
    if any(k.startswith("transformer.") for k in state):
        state = {k.removeprefix("transformer."): v for k, v in state.items() if k.startswith("transformer.")}
    return state


def from_hf(hf_model, n_special: int = 0) -> GPT:
    """Build a `GPT` with the weights of a transformers OpenAIGPTModel (or OpenAIGPTLMHeadModel).

    n_special: extra token rows appended to W_e, initialised N(0, 0.02) like the rest of the model.
    """
    if n_special < 0:
        raise ValueError(f"n_special must be >= 0, got {n_special}")
    cfg = config_from_hf(hf_model.config, n_special)
    src = _base_state_dict(hf_model)
    d = cfg.d_model
    out: dict[str, Tensor] = {}
    token_rows = src["tokens_embed.weight"]  # [vocab, d_model]
    extra = torch.randn(n_special, d, dtype=token_rows.dtype) * 0.02
    out["W_e.weight"] = torch.cat([token_rows, extra])
    out["W_p.weight"] = src["positions_embed.weight"]
    for i in range(cfg.n_layers):
        hf, ours = f"h.{i}.", f"blocks.{i}."
        w_qkv, b_qkv = src[hf + "attn.c_attn.weight"], src[hf + "attn.c_attn.bias"]  # [d, 3d], [3d]
        for j, name in enumerate(("W_q", "W_k", "W_v")):
            out[ours + f"attn.{name}.weight"] = w_qkv[:, j * d : (j + 1) * d].T  # Conv1D [in, out] -> Linear [out, in]
            out[ours + f"attn.{name}.bias"] = b_qkv[j * d : (j + 1) * d]
        out[ours + "attn.W_o.weight"] = src[hf + "attn.c_proj.weight"].T
        out[ours + "attn.W_o.bias"] = src[hf + "attn.c_proj.bias"]
        out[ours + "ffn.W_1.weight"] = src[hf + "mlp.c_fc.weight"].T  # [d, d_ff] -> [d_ff, d]
        out[ours + "ffn.W_1.bias"] = src[hf + "mlp.c_fc.bias"]
        out[ours + "ffn.W_2.weight"] = src[hf + "mlp.c_proj.weight"].T
        out[ours + "ffn.W_2.bias"] = src[hf + "mlp.c_proj.bias"]
        for ln in ("ln_1", "ln_2"):
            out[ours + f"{ln}.weight"] = src[hf + f"{ln}.weight"]
            out[ours + f"{ln}.bias"] = src[hf + f"{ln}.bias"]
    model = GPT(cfg)
    model.load_state_dict({k: v.detach().clone().contiguous() for k, v in out.items()}, strict=True)
    return model
