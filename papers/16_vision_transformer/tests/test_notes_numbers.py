"""Every worked number in notes.md, recomputed from the code and found in the text as written.

If the code changes a number, or the notes are edited, the matching test fails: update both together.
The notes' maths-to-code table and the article's code excerpts are checked against the source too.
"""

import re

import torch
import torch.nn.functional as F
import yaml
from shared.testing import PaperText, n_params
from vision_transformer import convert, data, lightning, model
from vision_transformer.data import ImageData, fraction_key
from vision_transformer.lightning import CLAIM_THRESHOLD, CNN_LEAD_MIN, GAP_SHRINK_MIN, ViTClassifier
from vision_transformer.model import (
    PatchEmbedding,
    SmallCNN,
    VisionTransformer,
    ViTConfig,
    attention,
    attention_rollout,
    patchify,
)

TEXT = PaperText.of(__file__)
FOLDER = TEXT.folder
README_FLAT = re.sub(r"\s+", " ", TEXT.readme)
in_notes = TEXT.in_notes


def fmt(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


# --- 4.1 cutting a 4x4 image into 2x2 patches, and embedding one -------------------------------------------

IMAGE = torch.arange(16.0).view(1, 1, 4, 4)
E = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, -1.0]])  # [P*P*C, D] = [4, 2]


def test_patch_example():
    patches = patchify(IMAGE, 2)[0]
    for i, row in enumerate(patches.tolist()):
        in_notes(f"$x_p^{{{i + 1}}} = [{fmt(row)}]$")
    projected = patches @ E
    for i, row in enumerate(projected.tolist()):
        in_notes(f"$x_p^{{{i + 1}}} E = [{fmt(row)}]$")
    # The convolution computes the same numbers once its kernel holds E.
    cfg = ViTConfig(image_size=4, patch_size=2, in_channels=1, d_model=2, n_heads=1)
    conv = PatchEmbedding(cfg)
    with torch.no_grad():
        conv.proj.weight.copy_(E.T.reshape(2, 2, 2, 1).permute(0, 3, 1, 2))
        conv.proj.bias.zero_()
    torch.testing.assert_close(conv.E, E)
    torch.testing.assert_close(conv(IMAGE)[0], projected)


# --- 4.2 the class token attends to three tokens --------------------------------------------------------------


def test_attention_example():
    q = torch.tensor([[[[1.0, 0.0]]]])
    k = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]])
    v = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]])
    out, w = attention(q, k, v)
    scores = (q @ k.transpose(-2, -1) / 2**0.5).flatten().tolist()
    in_notes(f"scores {scores[0]:.4f}, {scores[1]:.4f} and {scores[2]:.4f}")
    w = w.flatten().tolist()
    in_notes(f"weights {w[0]:.4f}, {w[1]:.4f} and {w[2]:.4f}")
    o = out.flatten().tolist()
    in_notes(f"output $[{o[0]:.4f}, {o[1]:.4f}]$")


def test_gelu_values():
    g = F.gelu(torch.tensor([1.0, -1.0, 0.5])).tolist()
    in_notes(f"$\\mathrm{{GELU}}(1) = {g[0]:.4f}$", f"$\\mathrm{{GELU}}(-1) = {g[1]:.4f}$",
             f"$\\mathrm{{GELU}}(0.5) = {g[2]:.4f}$")


def test_gelu_minimum_and_the_gap_to_the_tanh_form():
    # GELU's slope is zero at its minimum; the tanh form (JAX's default, used by the paper's released code)
    # differs from the exact form that this folder and Hugging Face use by at most this much.
    u = torch.linspace(-4.0, 4.0, 800_001, dtype=torch.float64)
    exact, tanh = F.gelu(u), F.gelu(u, approximate="tanh")
    i = int(exact.argmin())
    in_notes(f"$\\mathrm{{GELU}}({u[i].item():.4f}) = {exact[i].item():.4f}$",
             f"about ${exact[i].item():.4f}$, at $u \\approx {u[i].item():.4f}$")
    gap = (exact - tanh).abs()
    j = int(gap.argmax())
    in_notes(f"at most ${gap[j].item() * 1e4:.1f} \\times 10^{{-4}}$ (near $u = {abs(u[j].item()):.2f}$)")
    # and the slope really does change sign there
    grad = torch.autograd.functional.jacobian(F.gelu, torch.tensor([u[i].item() - 0.01, u[i].item() + 0.01]))
    assert grad[0, 0] < 0 < grad[1, 1]


def test_rollout_example():
    r = attention_rollout([torch.full((1, 1, 4, 4), 0.25)])[0, 0].tolist()
    in_notes(f"first row of $R$ is $[{', '.join(f'{x:.3f}' for x in r)}]$")


# --- 4.4 parameter counts --------------------------------------------------------------------------------------


def test_parameter_count_of_the_default_model():
    vit = ViTClassifier().model
    cfg = vit.cfg
    block = vit.blocks[0]
    parts = {
        "patch embedding $E$ (with bias)": n_params(vit.patch_embed),
        "class token $x_{class}$": vit.cls_token.numel(),
        "position embeddings $E_{pos}$": vit.pos_embed.numel(),
        "one MSA": n_params(block.msa),
        "one MLP": n_params(block.mlp),
        "two LayerNorms in a block": n_params(block.norm1) + n_params(block.norm2),
        "one encoder block": n_params(block),
        "final LayerNorm": n_params(vit.norm),
        "head": n_params(vit.head),
    }
    for name, count in parts.items():
        in_notes(f"| {name} | {count:,} |")
    total = n_params(vit)
    in_notes(f"| **whole ViT** | **{total:,}** |", f"| small CNN (baseline) | {n_params(SmallCNN()):,} |")
    assert total == (parts["patch embedding $E$ (with bias)"] + parts["class token $x_{class}$"]
                     + parts["position embeddings $E_{pos}$"] + cfg.n_layers * parts["one encoder block"]
                     + parts["final LayerNorm"] + parts["head"])
    assert cfg.n_patches == 16 and cfg.d_k == 16
    in_notes(f"$N = (8/2)^2 = {cfg.n_patches}$")


def test_vit_base_parameter_count():
    with torch.device("meta"):  # shapes only: counting 86 million parameters needs no memory or time
        base = VisionTransformer(ViTConfig(image_size=224, patch_size=16, in_channels=3, n_classes=1000, d_model=768,
                                           n_heads=12, d_ff=3072, n_layers=12, dropout=0.0))
    in_notes(f"ViT-B/16 at 224 pixels has {n_params(base):,} parameters", f"$N = (224/16)^2 = {base.cfg.n_patches}$")


def test_subset_sizes():
    dm = ImageData()
    dm.setup()
    sizes = [len(s) for s in dm.subsets.values()]
    in_notes(f"{sizes[0]}, {sizes[1]}, {sizes[2]} and {sizes[3]:,} training images")
    in_notes(f"{len(dm.train_set):,} training, {len(dm.val_set)} validation and {len(dm.test_set)} test images")


# --- the default run's recipe and the claim's thresholds, as sections 3.8 and 8 and the README quote them -------


def test_default_recipe_and_claim_thresholds_match_the_config_and_the_code():
    cfg = yaml.safe_load((FOLDER / "configs" / "default.yaml").read_text())
    dm = ImageData(**cfg["data"])
    dm.setup()
    steps_per_epoch = len(dm.train_dataloader()[fraction_key(1.0)])  # every fraction's loader has this length
    epochs, batch = cfg["trainer"]["max_epochs"], cfg["data"]["batch_size"]
    steps = epochs * steps_per_epoch
    in_notes(f"{epochs} epochs of {steps_per_epoch} steps: {steps:,} optimiser steps per model",
             f"{epochs} epochs of {steps_per_epoch} steps: {steps:,} steps of batch {batch} each",
             f"dropout {cfg['model']['dropout']:.1f}, peak learning rate {cfg['model']['lr']:g}",
             f"(`max_shift: {cfg['data']['max_shift']}`)")
    readme = f"{epochs} epochs, {steps:,} steps of batch {batch} per model"
    assert readme in README_FLAT, f"README.md should contain {readme!r}"
    in_notes(f"above the {CLAIM_THRESHOLD:g} the claim test asks for",
             f"CNN lead of at least {round(100 * CNN_LEAD_MIN)} points at the smallest fraction",
             f"shrink of at least {round(100 * GAP_SHRINK_MIN)} points (`GAP_SHRINK_MIN`)")


# --- the maths-to-code table and the article's code excerpts ------------------------------------------------------


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("6. From maths to code", (model, lightning), min_rows=12)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((model, lightning, data, convert), min_blocks=3)
