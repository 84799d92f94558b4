"""Every worked number in notes.md, recomputed from the code and found in the text."""

import torch
from lora.lightning import LoRAAdaptation
from lora.model import GPT, GPTConfig, LoRALinear, add_lora, count_trainable, subspace_similarity
from shared.testing import PaperText, n_params

TEXT = PaperText.of(__file__)


def worked_layer() -> LoRALinear:
    """Section 4.1: W_0 = [[1, 2], [3, 4]], A = [[1, -1]], B = [[2], [1]], r = 1, alpha = 2."""
    base = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        base.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    layer = LoRALinear(base, r=1, alpha=2)
    with torch.no_grad():
        layer.lora_A.copy_(torch.tensor([[1.0, -1.0]]))
        layer.lora_B.copy_(torch.tensor([[2.0], [1.0]]))
    return layer


def test_worked_layer_output_and_merge():
    layer, x = worked_layer(), torch.tensor([[1.0, 2.0]])
    assert layer.base(x).tolist() == [[5.0, 11.0]]
    assert (x @ layer.lora_A.T).item() == -1.0
    assert layer(x).tolist() == [[1.0, 9.0]]
    TEXT.in_notes("W₀ x = (1·1 + 2·2, 3·1 + 4·2) = (5, 11)")
    TEXT.in_notes("h = (5, 11) + (−4, −2) = **(1, 9)**")
    layer.merge()
    assert layer.base.weight.tolist() == [[5.0, -2.0], [5.0, 2.0]]
    assert layer(x).tolist() == [[1.0, 9.0]]
    TEXT.in_notes("= [[5, −2], [5, 2]]")


def test_default_model_counts_in_notes():
    cfg = GPTConfig(vocab_size=LoRAAdaptation().hparams.vocab_size)
    base = n_params(GPT(cfg))
    shares = {}
    for r in (1, 2, 4, 8):
        trainable, total = count_trainable(add_lora(GPT(cfg), r=r, alpha=r))
        shares[r] = (trainable, 100 * trainable / (total - trainable))
    head = cfg.vocab_size * cfg.d_model
    TEXT.in_notes(f"{base:,} parameters")
    TEXT.in_notes(f"2 blocks × 2 matrices × 512 = **{shares[4][0]:,}** trainable weights against the base "
                  f"model's **{base:,}**: **{shares[4][1]:.2f}%**")
    TEXT.in_notes(f"| head-only | the output layer `lm_head`, {head:,} weights | {100 * head / base:.2f}% |")
    TEXT.in_notes(f"{shares[1][0]}, {shares[2][0]:,} and {shares[8][0]:,} | {shares[1][1]:.2f}%, {shares[2][1]:.2f}% "
                  f"and {shares[8][1]:.2f}%")
    TEXT.in_notes(f"the ratio of parameter counts alone is {base:,} / {shares[4][0]:,} = {base / shares[4][0]:.0f}")
    assert shares[4][1] < 2.0


def test_share_per_matrix_and_gpt3_width():
    TEXT.in_notes(f"each W_q gets {100 * 2 * 4 / 64:.2f}% extra")
    TEXT.in_notes(f"with r = 4 it would be {100 * 2 * 4 / 12288:.3f}%")
    TEXT.in_notes(f"4,096 numbers, against 262,144 in the matrix: 2r / d = 8 / 512 = {100 * 8 / 512:.4f}%")
    assert 2 * 4 * 512 == 4096 and 512 * 512 == 262144


def test_subspace_similarity_example():
    phi = subspace_similarity(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[1.0, 1.0, 0.0]]), 1, 1)
    assert abs(phi - 0.5) < 1e-12
    TEXT.in_notes("φ(A₁, A₂, 1, 1) = cos² 45° = **0.5**")



def test_default_run_numbers_match_the_claim_constants():
    # The section 8 figures are the default run's (README); the thresholds quoted beside them are the code's.
    from lora.lightning import CLAIM_FAR, CLAIM_MARGIN, CLAIM_RECOVERED, CLAIM_SIZE_RATIO
    frozen, full, lora = 2.3419, 2.2232, 2.2437
    TEXT.in_notes(f"| frozen | 0 | {frozen} |")
    TEXT.in_notes(f"| full fine-tuning | 100% | {full} |")
    TEXT.in_notes(f"| **LoRA r = 4** | **1.79%** | **{lora}** |")
    recovered = (frozen - lora) / (frozen - full)
    TEXT.in_notes(f"recovers **{100 * recovered:.1f}%** of what full fine-tuning gains")
    TEXT.in_notes(f"the claim asks for at least {100 * CLAIM_RECOVERED:.0f}%")
    TEXT.in_notes(f"(the stated margin: at most {CLAIM_MARGIN})")
    TEXT.in_notes(f"{frozen - lora:.4f} nats below the frozen model (at least {CLAIM_FAR})")
    TEXT.in_notes(f"**{471009 / 11795:.1f}** times larger (the claim\n  asks for {CLAIM_SIZE_RATIO:.0f})")
    assert recovered >= CLAIM_RECOVERED and lora - full <= CLAIM_MARGIN and frozen - lora >= CLAIM_FAR
