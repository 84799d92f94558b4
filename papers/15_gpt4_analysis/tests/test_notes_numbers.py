"""The worked numbers of notes.md, recomputed from the code and found in the text."""

import itertools

import torch
from gpt4_analysis.data import VOCAB, Data, choice_distribution
from gpt4_analysis.harness import expected_calibration_error
from gpt4_analysis.model import DecoderLM, ModelConfig, non_embedding_params, training_compute
from shared.testing import PaperText

TEXT = PaperText.of(__file__)


def n_of(d, n_layers=1):  # the default family has one layer; the first version (section 9) had two
    torch.manual_seed(0)
    return non_embedding_params(DecoderLM(ModelConfig(len(VOCAB), 18, d, n_layers, 2)))


def test_ece_worked_example():
    ece, _ = expected_calibration_error([0.6, 0.6, 0.9, 1.0], [1, 0, 1, 1])
    TEXT.in_notes(f"ECE = 0.5 · 0.1 + 0.5 · 0.05 = **{ece:.3f}**")


def test_irreducible_loss_of_the_held_out_text():
    dm = Data(n_train_per_suite=1, n_text=1, n_val_text=1, n_eval_per_suite=1, n_calibration=1)  # default lexicon
    dm.setup()
    TEXT.in_notes(f"gives **{dm.text_floor():.4f} nats per token**")


def test_best_possible_accuracy_on_the_choice_suite():
    # the answer key's most likely option, averaged over all 10,000 prompts of four digits
    prompts = ("m " + " ".join(map(str, d)) + "=" for d in itertools.product(range(10), repeat=4))
    best = [max(choice_distribution(p)) for p in prompts]
    TEXT.in_notes(f"best possible accuracy is **{sum(best) / len(best):.3f}**")


def test_parameters_and_compute_of_the_smallest_and_largest_models():
    small, large = n_of(8), n_of(48)
    TEXT.in_notes(f"N = 12 · 64 + 15 · 8 = **{small:,}**")
    TEXT.in_notes(f"N = **{large:,}**")
    c_small = training_compute(small, 211 * 64 * 17)
    c_large = training_compute(large, 1200 * 64 * 17)
    TEXT.in_notes(f"C = 6 · 888 · 229,568 = **{c_small / 1e9:.2f} × 10⁹**")
    TEXT.in_notes(f"C = **{c_large / 1e11:.2f} × 10¹¹**: {c_large / c_small:.0f} times more")


def test_other_fit_forms_do_not_rescue_the_seed_2_prediction():
    # The seed-2 losses of the first, task-only version (notes section 9; `uv run papers train 15 --run.threads 1
    # --model.init_seed 2` at commit 298e0c9), refitted three ways from the table's numbers: free c, c fixed
    # at the corpus floor, c = 0.
    import numpy as np
    from gpt4_analysis.scaling import fit_scaling_law, relative_error

    losses = np.array([1.8734, 1.7925, 1.7083, 1.6666, 1.5967, 1.3142])
    widths, steps = [8, 12, 16, 24, 32, 48], [150, 200, 300, 400, 600, 800]
    compute = np.array([training_compute(n_of(d, 2), s * 64 * 17) for d, s in zip(widths, steps)])
    # the floor of that first corpus (six task suites, `choice` then four 2-digit numbers), computed by the
    # irreducible_loss() of commit 298e0c9; the corpus has changed since, so the number is quoted
    x, floor = compute / compute[0], 1.1604
    free = float(fit_scaling_law(compute[:-1], losses[:-1]).predict(compute[-1]))
    b, log_a = np.polyfit(np.log(x[:-1]), np.log(losses[:-1] - floor), 1)
    fixed = np.exp(log_a) * x[-1] ** b + floor
    b0, log_a0 = np.polyfit(np.log(x[:-1]), np.log(losses[:-1]), 1)
    pure = np.exp(log_a0) * x[-1] ** b0
    errors = [100 * relative_error(p, losses[-1]) for p in (free, fixed, pure)]
    TEXT.in_notes(f"predicts +{errors[1]:.2f}%, a pure\n  power law (c = 0) +{errors[2]:.2f}%, the free fit +17.98%")
    assert abs(errors[0] - 17.98) < 0.02  # the run's own +17.98% (from unrounded losses), refitted from the table
    assert min(errors) > 5.0  # every form misses by more than the claim's 5%
