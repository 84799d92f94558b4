"""Every worked number in notes.md, recomputed from the code and found in the text."""

import math

import torch
from mixture_of_experts import lightning, model
from mixture_of_experts.model import (
    NOISE_EPSILON,
    DecoderLM,
    ModelConfig,
    active_params,
    capacity,
    cv_squared,
    prob_in_top_k,
)
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)
CLEAN = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
NOISE = torch.tensor([[-1.0, 0.5, 1.2, 0.0]])


def test_gates_without_noise():
    g = CLEAN.topk(2).values.softmax(-1)[0]
    TEXT.in_notes(f"$G = [{g[0]:.4f}, {g[1]:.4f}, 0, 0]$")


def test_gates_with_noise_and_the_smooth_load():
    std = math.log(2) + NOISE_EPSILON
    TEXT.in_notes(f"\\ln 2 + 0.01 = {std:.4f}$")
    H = CLEAN + NOISE * std
    TEXT.in_notes("= [" + ", ".join(f"{v:.4f}" for v in H[0, :3]) + ", -1.0]$")
    top = H.topk(3)
    assert top.indices[0, :2].tolist() == [1, 2]  # experts 2 and 3 win
    g = top.values[0, :2].softmax(-1)
    TEXT.in_notes(f"gates $[0, {g[0]:.4f}, {g[1]:.4f}, 0]$")
    p = prob_in_top_k(CLEAN, H, torch.full_like(H, std), top.values, 2)[0]
    for v in p:
        TEXT.in_notes(f"{v:.4f}")


def test_cv_squared_example():
    TEXT.in_notes(f"$\\mathrm{{CV}}^2 = {cv_squared(torch.tensor([3.0, 1, 0, 0])).item():.1f}$")
    assert cv_squared(torch.tensor([8.0, 0, 0, 0])).item() == 3.0  # self-check question 3


def test_capacity_of_the_default_run_and_the_self_check():
    TEXT.in_notes(f"= {capacity(16 * 64, 8, 2, 2.0)}$ slots per expert")
    TEXT.in_notes(f"= {capacity(2048, 16, 2, 1.25)}$.")


def test_parameter_counts():
    dense, moe = DecoderLM(ModelConfig(ffn="dense")), DecoderLM(ModelConfig(ffn="moe"))
    TEXT.in_notes(f"The dense decoder has {n_params(dense):,} parameters", f"The MoE decoder has {n_params(moe):,}",
                  f"of which {active_params(moe):,} touch any one token",
                  f"the difference, {active_params(moe) - n_params(dense):,}")


def test_claim_thresholds_are_the_ones_in_the_notes():
    TEXT.in_notes(f"a loss gap of at least {lightning.CLAIM_LOSS_GAP} nats",
                  f"a collapsed load of at least {lightning.CLAIM_COLLAPSE}x",
                  f"a balanced load of at most {lightning.CLAIM_BALANCED}x")
    TEXT.in_readme(f"at least {lightning.CLAIM_LOSS_GAP}", f"at least {lightning.CLAIM_COLLAPSE}",
                   f"at most {lightning.CLAIM_BALANCED}")


def test_maths_to_code_table_quotes_the_code():
    TEXT.check_maths_to_code("6. From maths to code", [model, lightning], min_rows=15)


def test_article_code_excerpts_are_the_code():
    TEXT.check_article_excerpts([model, lightning], min_blocks=2)


def test_article_numbers():
    dense, moe = DecoderLM(ModelConfig(ffn="dense")), DecoderLM(ModelConfig(ffn="moe"))
    TEXT.in_article(f"{n_params(moe):,} parameters in total against {n_params(dense):,}",
                    f"of which {active_params(moe):,} touch any one token",
                    f"= {capacity(1024, 8, 2, 2.0)} slots per expert")
