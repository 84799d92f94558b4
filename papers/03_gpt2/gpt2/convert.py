"""Load the released GPT-2 weights (in Hugging Face's layout) into our `GPT2`.

    from transformers import GPT2LMHeadModel           # needs internet the first time
    from gpt2.convert import from_hf
    model = from_hf(GPT2LMHeadModel.from_pretrained("gpt2"))   # the 124M model, ours now

Hugging Face keeps OpenAI's original layout, in which every projection is a `Conv1D`: a weight
stored as [in_features, out_features] and applied as x @ W + b. That is the row-vector form our
notes use, but `nn.Linear` stores the transpose, [out_features, in_features], so every projection
matrix is transposed on the way in. Embeddings, LayerNorms and biases copy as they are.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from gpt2.model import GPT2, GPT2Config

# Our name <- Hugging Face's name, per block. Conv1D weights are transposed, everything else copied.
BLOCK_NAMES = {
    "ln_1.weight": "ln_1.weight", "ln_1.bias": "ln_1.bias",
    "attn.W_qkv.weight": "attn.c_attn.weight", "attn.W_qkv.bias": "attn.c_attn.bias",
    "attn.W_o.weight": "attn.c_proj.weight", "attn.W_o.bias": "attn.c_proj.bias",
    "ln_2.weight": "ln_2.weight", "ln_2.bias": "ln_2.bias",
    "mlp.W_1.weight": "mlp.c_fc.weight", "mlp.W_1.bias": "mlp.c_fc.bias",
    "mlp.W_2.weight": "mlp.c_proj.weight", "mlp.W_2.bias": "mlp.c_proj.bias",
}
CONV1D = {"attn.W_qkv.weight", "attn.W_o.weight", "mlp.W_1.weight", "mlp.W_2.weight"}
TOP_NAMES = {"wte.weight": "wte.weight", "wpe.weight": "wpe.weight", "ln_f.weight": "ln_f.weight",
             "ln_f.bias": "ln_f.bias"}


def _strip_prefix(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """GPT2LMHeadModel says 'transformer.h.0...', GPT2Model says 'h.0...': accept both."""
    return {re.sub(r"^transformer\.", "", k): v for k, v in state.items()}


def config_from_hf(state: dict[str, Tensor], n_heads: int, layer_norm_eps: float = 1e-5) -> GPT2Config:
    """Read the sizes off the weights; the head count is not visible in any shape, so it is an argument."""
    vocab_size, d_model = state["wte.weight"].shape
    n_layers = len({int(m.group(1)) for k in state if (m := re.match(r"h\.(\d+)\.", k))})
    return GPT2Config(vocab_size=vocab_size, n_ctx=state["wpe.weight"].shape[0], d_model=d_model, n_heads=n_heads,
                      n_layers=n_layers, d_ff=state["h.0.mlp.c_fc.weight"].shape[1], dropout=0.0,
                      layer_norm_eps=layer_norm_eps)


def from_hf(hf_model_or_state_dict, n_heads: int | None = None, layer_norm_eps: float | None = None) -> GPT2:
    """A `GPT2LMHeadModel` / `GPT2Model` (or its state dict) -> our `GPT2`, in eval mode, same device and dtype.

    With a model, the head count and LayerNorm epsilon come from its config; with a bare state
    dict, pass n_heads (12 for the 124M model).
    """
    hf_config = getattr(hf_model_or_state_dict, "config", None)
    if hf_config is not None:
        state = hf_model_or_state_dict.state_dict()
        n_heads = n_heads or hf_config.n_head
        layer_norm_eps = layer_norm_eps or hf_config.layer_norm_epsilon
    elif isinstance(hf_model_or_state_dict, dict):
        state = hf_model_or_state_dict
    else:
        raise ValueError(f"expected a Hugging Face GPT-2 model or its state dict, got {type(hf_model_or_state_dict)}")
    if n_heads is None:
        raise ValueError("n_heads is required when converting a bare state dict (12 for the 124M GPT-2)")
    state = _strip_prefix(state)
    missing = [k for k in ("wte.weight", "wpe.weight", "ln_f.weight", "h.0.mlp.c_fc.weight") if k not in state]
    if missing:
        raise ValueError(f"not a GPT-2 state dict: {missing[0]!r} is missing")
    cfg = config_from_hf(state, n_heads, layer_norm_eps or 1e-5)
    ours = GPT2(cfg)
    new_state = {}
    for our_name, hf_name in TOP_NAMES.items():
        new_state[our_name] = state[hf_name]
    for i in range(cfg.n_layers):
        for our_name, hf_name in BLOCK_NAMES.items():
            w = state[f"h.{i}.{hf_name}"]
            new_state[f"blocks.{i}.{our_name}"] = w.t() if our_name in CONV1D else w  # Conv1D [in, out] -> [out, in]
    if "lm_head.weight" in state and not torch.equal(state["lm_head.weight"], state["wte.weight"]):
        raise ValueError("lm_head.weight differs from wte.weight: GPT-2 ties them, and so does this model")
    ours.load_state_dict({k: v.detach().clone() for k, v in new_state.items()}, strict=True)
    ref = state["wte.weight"]
    return ours.to(device=ref.device, dtype=ref.dtype).eval()
