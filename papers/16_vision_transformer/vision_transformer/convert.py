"""Load Hugging Face ViT weights into this package's VisionTransformer.

With internet access, the paper's released ViT-B/16 (ImageNet-21k pre-training, ImageNet fine-tuning):

    from transformers import ViTForImageClassification
    from vision_transformer.convert import from_hf
    hf = ViTForImageClassification.from_pretrained("google/vit-base-patch16-224")
    ours = from_hf(hf).eval()   # same logits as hf(pixel_values).logits, up to float rounding

`ViTModel.from_pretrained("google/vit-base-patch16-224-in21k")` works too (no head: ours gets a
zero head with `n_classes` outputs). The tests never download: they build random-weight models
from a small `ViTConfig` and check that both give the same numbers.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from vision_transformer.model import VisionTransformer, ViTConfig

# Older transformers releases (and the checkpoints on the Hub) use these names; newer ones the right side.
LEGACY = [
    (r"encoder\.layer\.(\d+)\.", r"layers.\1."),
    (r"attention\.attention\.query\.", "attention.q_proj."),
    (r"attention\.attention\.key\.", "attention.k_proj."),
    (r"attention\.attention\.value\.", "attention.v_proj."),
    (r"attention\.output\.dense\.", "attention.o_proj."),
    (r"intermediate\.dense\.", "mlp.fc1."),
    (r"(layers\.\d+\.)output\.dense\.", r"\1mlp.fc2."),
]

PER_LAYER = {
    "layernorm_before": "norm1", "attention.q_proj": "msa.W_q", "attention.k_proj": "msa.W_k",
    "attention.v_proj": "msa.W_v", "attention.o_proj": "msa.W_o", "layernorm_after": "norm2",
    "mlp.fc1": "mlp.W_1", "mlp.fc2": "mlp.W_2",
}


def config_from_hf(hf_config, n_classes: int | None = None) -> ViTConfig:
    """Our ViTConfig from a transformers ViTConfig (square images and patches only)."""
    if hf_config.hidden_act != "gelu":
        raise ValueError(f"hidden_act {hf_config.hidden_act!r} is not supported; Hugging Face's ViT uses exact GELU")
    if not hf_config.qkv_bias:
        raise ValueError("qkv_bias=False is not supported: the paper's projections have biases")
    image_size, patch_size = hf_config.image_size, hf_config.patch_size
    if not isinstance(image_size, int) or not isinstance(patch_size, int):
        raise ValueError(f"only square images and patches are supported, got {image_size} and {patch_size}")
    return ViTConfig(image_size=image_size, patch_size=patch_size, in_channels=hf_config.num_channels,
                     n_classes=n_classes or hf_config.num_labels, d_model=hf_config.hidden_size,
                     n_heads=hf_config.num_attention_heads, d_ff=hf_config.intermediate_size,
                     n_layers=hf_config.num_hidden_layers, dropout=0.0, layer_norm_eps=hf_config.layer_norm_eps)


def convert_state_dict(hf_state: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Rename (and nothing else: both keep nn.Linear's [out, in] layout) a ViTModel or
    ViTForImageClassification state dict to ours. The pooler (dense + tanh) has no place in the paper's
    classifier, which reads the class token directly, so it is dropped."""
    state = {}
    for key, value in hf_state.items():
        key = key.removeprefix("vit.")
        for pattern, repl in LEGACY:
            key = re.sub(pattern, repl, key)
        state[key] = value
    out = {
        "cls_token": state["embeddings.cls_token"],
        "pos_embed": state["embeddings.position_embeddings"],
        "patch_embed.proj.weight": state["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": state["embeddings.patch_embeddings.projection.bias"],
        "norm.weight": state["layernorm.weight"],
        "norm.bias": state["layernorm.bias"],
    }
    for i in range(n_layers):
        for theirs, ours in PER_LAYER.items():
            for kind in ("weight", "bias"):
                out[f"blocks.{i}.{ours}.{kind}"] = state[f"layers.{i}.{theirs}.{kind}"]
    if "classifier.weight" in state:
        out["head.weight"], out["head.bias"] = state["classifier.weight"], state["classifier.bias"]
    return out


def from_hf(hf_model: nn.Module, n_classes: int | None = None) -> VisionTransformer:
    """A VisionTransformer with the weights of a transformers ViTModel or ViTForImageClassification."""
    cfg = config_from_hf(hf_model.config, n_classes)
    ours = VisionTransformer(cfg)
    state = convert_state_dict(hf_model.state_dict(), cfg.n_layers)
    has_head = "head.weight" in state
    if has_head and state["head.weight"].size(0) != cfg.n_classes:
        raise ValueError(f"the checkpoint's classifier has {state['head.weight'].size(0)} classes, "
                         f"n_classes is {cfg.n_classes}")
    missing, unexpected = ours.load_state_dict(state, strict=False)
    allowed_missing = set() if has_head else {"head.weight", "head.bias"}
    if set(missing) - allowed_missing or unexpected:
        raise ValueError(f"weights do not fit: missing {sorted(set(missing) - allowed_missing)}, "
                         f"unexpected {sorted(unexpected)}")
    return ours
