"""Every worked number in notes.md, recomputed from the code and found in the text as written.

If the code changes a number, or the notes are edited, the matching test fails: update both together.
The notes' maths-to-code table and the article's code excerpts are checked against the source too.
"""

import math

import torch
from palm import data, lightning, model, optim
from palm.lightning import PaLMLanguageModel, palm_loss
from palm.model import MultiQueryAttention, PaLMConfig, SwiGLU, apply_rope, kv_cache_elements, rope_angles
from palm.optim import PaLMAdafactor
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)
in_notes = TEXT.in_notes


def fmt(n: int) -> str:
    return f"{n:,}".replace(",", "{,}")  # LaTeX thousands separator, as written in the notes


def test_z_loss_example():
    logits = torch.tensor([[[2.0, 1.0, 0.0]]], dtype=torch.float64)
    total, ce, z_term = palm_loss(logits, torch.tensor([[0]]))
    e = logits.exp()[0, 0].tolist()
    log_z = math.log(sum(e))
    in_notes(f"$$Z = e^2 + e^1 + e^0 = {e[0]:.4f} + {e[1]:.4f} + 1 = {sum(e):.4f}, \\qquad \\log Z = {log_z:.4f}$$")
    in_notes(f"$\\log Z - z_c = {log_z:.4f} - 2 = {ce.item():.4f}$",
             f"$10^{{-4}} \\cdot {log_z:.4f}^2 = 10^{{-4}} \\cdot {log_z**2:.4f} = {z_term.item():.8f}$",
             f"so the total is ${total.item():.4f}$")
    _, ce_shift, z_shift = palm_loss(logits + 3.0, torch.tensor([[0]]))
    assert abs(ce_shift.item() - ce.item()) < 1e-6
    in_notes(f"cross-entropy, {ce_shift.item():.4f}, but $\\log Z = {log_z + 3:.4f}$",
             f"z-loss grows to ${z_shift.item():.7f}$, five times more")
    assert 4.5 < z_shift.item() / z_term.item() < 5.5


def test_rope_example():
    cos, sin = rope_angles(3, 4)
    in_notes(f"$\\cos 2 = {cos[2, 0].item():.4f}$, $\\sin 2 = {sin[2, 0].item():.4f}$, "
             f"$\\cos 0.02 = {cos[2, 1].item():.4f}$, $\\sin 0.02 = {sin[2, 1].item():.4f}$")
    q = torch.tensor([[[[1.0, 0.0, 0.0, 1.0]]]])
    r = apply_rope(q, cos[2:3], sin[2:3]).flatten().tolist()
    in_notes("= [" + ", ".join(f"{v:.4f}" for v in r) + "]$$")
    assert abs(math.hypot(*r) - math.sqrt(2)) < 1e-6


def test_attention_parameter_and_cache_counts():
    d, h = 96, 4
    mha, mqa = n_params(MultiQueryAttention(d, h, False)), n_params(MultiQueryAttention(d, h, True))
    in_notes(f"multi-head: $4 \\cdot 96 \\cdot 96 = {fmt(mha)}$ parameters",
             f"multi-query: $2 \\cdot 96 \\cdot 96 + 2 \\cdot 96 \\cdot 24 = {fmt(mqa)}$ parameters")
    cfg = PaLMConfig(d_model=d, n_heads=h, n_layers=4)
    per_token_mha = kv_cache_elements(PaLMConfig(d_model=d, n_heads=h, n_layers=1, multi_query=False), 1, 1)
    per_token_mqa = kv_cache_elements(PaLMConfig(d_model=d, n_heads=h, n_layers=1), 1, 1)
    in_notes(f"stores $2 \\cdot 96 = {per_token_mha}$ numbers with multi-head and $2 \\cdot 24 = {per_token_mqa}$")
    full_mha = kv_cache_elements(PaLMConfig(d_model=d, n_heads=h, n_layers=4, multi_query=False), 1, 256)
    in_notes(f"$2 \\cdot 4 \\cdot 1 \\cdot 4 \\cdot 256 \\cdot 24 = {fmt(full_mha)}$ numbers against "
             f"$2 \\cdot 4 \\cdot 1 \\cdot 1 \\cdot 256 \\cdot 24 = {fmt(kv_cache_elements(cfg, 1, 256))}$")


def test_palm_540b_cache_numbers():
    # PaLM 540B: 118 layers, 48 heads of d_head 256 (Table 1); d_model only matters through d_head here.
    big_mha = PaLMConfig(d_model=48 * 256, n_heads=48, n_layers=118, multi_query=False)
    big_mqa = PaLMConfig(d_model=48 * 256, n_heads=48, n_layers=118)
    mha, mqa = kv_cache_elements(big_mha, 1, 1), kv_cache_elements(big_mqa, 1, 1)
    in_notes(f"$2 \\cdot 118 \\cdot 48 \\cdot 256 = {fmt(mha)}$ numbers with multi-head and "
             f"$2 \\cdot 118 \\cdot 256 = {fmt(mqa)}$ with multi-query")
    in_notes(f"takes {mha * 2 * 2048 / 1e9:.1f} GB per sequence with multi-head and {mqa * 2 * 2048 / 1e9:.2f} GB")


def test_parameter_table_of_the_default_models():
    module = PaLMLanguageModel()  # the defaults of the LightningModule are the default config's sizes
    par, ser = module.models["parallel"], module.models["serial"]
    rows = {
        "shared embedding ($96 \\times 96$)": n_params(par.embed),
        "multi-query attention": n_params(par.blocks[0].attn),
        "SwiGLU ($3 \\cdot 96 \\cdot 384$)": n_params(SwiGLU(96, 384)),
        "one parallel block (one LayerNorm scale)": n_params(par.blocks[0]),
        "one serial block (two LayerNorm scales)": n_params(ser.blocks[0]),
    }
    for name, count in rows.items():
        in_notes(f"| {name} | {count:,} |")
    in_notes(f"| **parallel model** | **{n_params(par):,}** |", f"| **serial model** | **{n_params(ser):,}** |")
    assert n_params(par) == n_params(par.embed) + 4 * n_params(par.blocks[0]) + 96
    diff = n_params(ser) - n_params(par)
    in_notes(f"differ by $4 \\cdot 96 = {diff}$ parameters, {diff / n_params(ser):.2%}")


def test_first_optimizer_step_example():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(200, 200))
    with torch.no_grad():
        p.mul_(0.1 / p.pow(2).mean().sqrt())  # RMS exactly 0.1
    p.grad = torch.randn(200, 200)
    before = p.detach().clone()
    PaLMAdafactor([p], lr=1e-2, weight_decay=False).step()
    moved = (before - p.detach()).abs()
    torch.testing.assert_close(moved, torch.full_like(moved, 1e-4), rtol=1e-3, atol=0)
    in_notes("moves by $10^{-2} \\cdot 0.1 \\cdot 0.1 = 10^{-4}$")


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("6. From maths to code", (model, lightning, optim), min_rows=20)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((model, lightning, optim, data), min_blocks=3)


def test_scale_ratios_and_self_check_cache_answer():
    par = PaLMLanguageModel().models["parallel"]
    ratio_8b, ratio_540b = 8.63e9 / n_params(par), 540.35e9 / n_params(par)  # Table 1's parameter counts
    assert round(ratio_8b, -3) == 16_000 and 0.9e6 < ratio_540b < 1.1e6
    in_notes("about 16,000 times fewer than PaLM 8B (8.63 billion, Table 1)",
             "about 16,000 times smaller than PaLM 8B and a million times smaller than PaLM 540B")
    # Self-check 2: d_model 1024, 16 heads, 24 layers, per token.
    mha = kv_cache_elements(PaLMConfig(d_model=1024, n_heads=16, n_layers=24, multi_query=False), 1, 1)
    mqa = kv_cache_elements(PaLMConfig(d_model=1024, n_heads=16, n_layers=24), 1, 1)
    assert mha == 16 * mqa
    in_notes(f"$2 \\cdot 24 \\cdot 16 \\cdot 64 = 2 \\cdot 24 \\cdot 1024 = {fmt(mha)}$",
             f"$2 \\cdot 24 \\cdot 64 = {fmt(mqa)}$")
