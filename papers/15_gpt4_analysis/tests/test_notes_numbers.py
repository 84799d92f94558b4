"""The worked numbers of notes.md, recomputed from the code and found in the text."""

import torch
from gpt4_analysis.data import VOCAB, irreducible_loss
from gpt4_analysis.harness import expected_calibration_error
from gpt4_analysis.model import DecoderLM, ModelConfig, non_embedding_params, training_compute
from shared.testing import PaperText

TEXT = PaperText.of(__file__)


def n_of(d):
    torch.manual_seed(0)
    return non_embedding_params(DecoderLM(ModelConfig(len(VOCAB), 18, d, 2, 2)))


def test_ece_worked_example():
    ece, _ = expected_calibration_error([0.6, 0.6, 0.9, 1.0], [1, 0, 1, 1])
    TEXT.in_notes(f"ECE = 0.5 · 0.1 + 0.5 · 0.05 = **{ece:.3f}**")


def test_irreducible_loss_of_the_corpus():
    TEXT.in_notes(f"gives **{irreducible_loss():.4f} nats per token**")


def test_parameters_and_compute_of_the_smallest_and_largest_models():
    small, large = n_of(8), n_of(48)
    TEXT.in_notes(f"N = 24 · 64 + 26 · 8 + 16 = **{small:,}**")
    TEXT.in_notes(f"N = **{large:,}**")
    c_small = training_compute(small, 150 * 64 * 17)
    c_large = training_compute(large, 800 * 64 * 17)
    TEXT.in_notes(f"C = 6 · 1,760 · 163,200 = **{c_small / 1e9:.2f} × 10⁹**")
    TEXT.in_notes(f"C = **{c_large / 1e11:.2f} × 10¹¹**: {c_large / c_small:.0f} times more")
