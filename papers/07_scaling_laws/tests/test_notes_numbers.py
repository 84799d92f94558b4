"""Every worked number in notes.md, recomputed from the code and found in the text as written.

If the code changes a number, or the notes are edited, the matching test fails: update both together.
The notes' maths-to-code table and the article's code excerpts are checked against the source too.
"""

import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
import yaml
from scaling_laws import data, lightning, model, scaling
from scaling_laws.data import ALPHABET
from scaling_laws.lightning import DECADES_MIN, LEARNED_LOSS_MAX, R2_MIN, TOKEN_RATIO_MIN, ScalingSweep
from scaling_laws.model import (
    DecoderLM,
    ModelConfig,
    approx_params,
    exact_params,
    non_embedding_params,
    training_flops,
)
from scaling_laws.scaling import PAPER_ALPHA_N, PAPER_N_C, PowerLawFit, fit_power_law, loss_ratio_for_10x, r2_log
from shared.testing import PaperText
from torch.utils.flop_counter import FlopCounterMode

TEXT = PaperText.of(__file__)


def tex(n: int) -> str:
    """A whole number as the notes' LaTeX writes it: 1{,}536."""
    return f"{n:,}".replace(",", "{,}")


in_notes = TEXT.in_notes
CONFIG = yaml.safe_load((TEXT.folder / "configs" / "default.yaml").read_text())


def test_counting_n_for_the_smallest_and_largest_models():
    for d in (8, 64):
        m = DecoderLM(ModelConfig(len(ALPHABET), 32, d, 2, 4))
        assert non_embedding_params(m) == exact_params(2, d)
    in_notes(f"$12 \\times 2 \\times 8^2 = {tex(approx_params(2, 8))}$",
             f"$13 \\times 2 \\times 8 + 2 \\times 8 = {exact_params(2, 8) - approx_params(2, 8)}$",
             f"$N = {tex(exact_params(2, 8))}$, {100 * (exact_params(2, 8) / approx_params(2, 8) - 1):.1f}% more",
             f"$12 \\times 2 \\times 64^2 = {tex(approx_params(2, 64))}$",
             f"exact $N = {tex(exact_params(2, 64))}$, "
             f"{100 * (exact_params(2, 64) / approx_params(2, 64) - 1):.1f}% more")
    TEXT.in_readme(f"N = {exact_params(2, 8):,} to {exact_params(2, 64):,}")


def test_the_table_of_sizes_in_the_notes():
    for d in CONFIG["model"]["d_models"]:
        held = " (held out)" if d == 64 else ""
        in_notes(f"| {d}{held} | {exact_params(2, d):,} | {approx_params(2, d):,} |")


def test_compute_of_the_largest_model():
    n = exact_params(2, 64)
    chars = CONFIG["trainer"]["max_steps"] * CONFIG["data"]["batch_size"] * CONFIG["data"]["n_ctx"]
    assert chars == 512_000
    in_notes(f"$6 \\times {tex(n)} = {tex(6 * n)}$ FLOPs per training character",
             f"run's {chars:,} characters that is ${training_flops(n, chars) / 1e11:.2f} \\times 10^{{11}}$ FLOPs")


def test_six_n_is_what_the_flop_counter_counts_for_the_weights():
    m = DecoderLM(ModelConfig(len(ALPHABET), 8, 8, 2, 4))
    with FlopCounterMode(display=False) as counter:
        m(torch.zeros(1, 8, dtype=torch.long)).sum().backward()
    by_module = counter.get_flop_counts()
    weights = sum(sum(v.values()) for k, v in by_module.items() if k.count(".") == 4)  # DecoderLM.blocks.i.x.W_
    assert weights == training_flops(approx_params(2, 8), 8)


def test_what_ten_times_the_parameters_buys():
    r = loss_ratio_for_10x(PAPER_ALPHA_N)
    in_notes(f"$10^{{-0.076}} = {r:.4f}$", f"leaves {100 * r:.1f}% of the loss, {100 * (1 - r):.1f}% less",
             f"$2^{{-0.076}} = {2 ** -PAPER_ALPHA_N:.4f}$")
    in_notes(f"For the paper's 0.076, that is {r:.4f}", f"$2^{{-0.076}} = {2 ** -PAPER_ALPHA_N:.2f}$")
    paper = PowerLawFit(alpha=PAPER_ALPHA_N, log_n_c=math.log(PAPER_N_C), r2_log=1.0)
    in_notes(f"(8.8 \\times 10^5)^{{0.076}} = {float(paper.predict(1e8)):.2f}$ nats per token",
             f"at\n$10^9$: {float(paper.predict(1e9)):.2f}")
    hundred = 100**-PAPER_ALPHA_N
    in_notes(f"$100^{{-0.076}} = 10^{{-0.152}} = {hundred:.3f}$: about {100 * (1 - hundred):.1f}% lower")


def test_r2_by_hand():
    value = r2_log([1.0, math.e, math.e**2], [1.0, math.e, math.e**3])
    in_notes(f"$R^2 = 1 - 1/2 = {value}$")


def test_self_check_count_for_width_16():
    in_notes(f"$12 \\times 2 \\times 16^2 = {tex(approx_params(2, 16))}$; exact "
             f"$N = {tex(approx_params(2, 16))} + 13 \\times 2 \\times 16 + 2 \\times 16 = {tex(exact_params(2, 16))}$")


def test_embedding_size_of_the_smallest_model():
    m = DecoderLM(ModelConfig(len(ALPHABET), CONFIG["model"]["n_ctx"], 8, 2, 4))
    emb = m.wte.weight.numel() + m.wpe.weight.numel()
    in_notes(f"$36 \\times 8 + 32 \\times 8 = {emb}$ in its embeddings")


def test_default_config_and_the_claim_thresholds_as_the_notes_state_them():
    assert CONFIG["model"]["d_models"] == [8, 12, 16, 24, 32, 48, 64] and CONFIG["model"]["lr"] == 0.01
    in_notes("the same 500 steps", "a linear warm-up over 30 steps", "Our first attempt used 0.003 and 450 steps")
    assert (R2_MIN, DECADES_MIN, TOKEN_RATIO_MIN, LEARNED_LOSS_MAX) == (0.95, 1.5, 2.0, 2.2)
    in_notes("$R^2 \\ge 0.95$, at least 1.5 decades fitted, token ratio $\\ge 2$, largest\n  model's held-out loss "
             "$\\le 2.2$", f"$\\ln 36 = {math.log(len(ALPHABET)):.2f}$")
    TEXT.in_readme("| ≥ 0.95 |", "| ≥ 1.5 |", "| ≥ 2.0 |", "| ≤ 2.2 |")


def test_default_run_numbers_agree_between_notes_and_readme():
    # The measured numbers (section 8) are from the default run; check the derived ones are consistent.
    alpha, ratio_small, ratio_large = 0.0549, 434_176, 125_952
    in_notes(f"$10^{{-0.0549}} = {10 ** -alpha:.3f}$", f"needs {ratio_small / ratio_large:.2f} times fewer")
    in_notes(f"after {ratio_large:,} characters and by the smallest after {ratio_small:,}")
    TEXT.in_readme(f"{ratio_small:,} / {ratio_large:,} = {ratio_small / ratio_large:.2f}")
    in_notes(f"relative error of −{100 * (2.0523 - 1.9942) / 2.0523:.2f}%")
    # The fit and its residuals, recomputed from the six fitted losses of the notes' table.
    n = [exact_params(2, d) for d in (8, 12, 16, 24, 32, 48)]
    losses = [2.4626, 2.4065, 2.3410, 2.2180, 2.1235, 2.0640]
    fit = fit_power_law(n, losses)
    assert round(fit.alpha, 4) == alpha and round(fit.r2_log, 4) == 0.9813
    residuals = ", ".join(f"{r:+.4f}".replace("-", "−") for r in np.log(losses) - np.log(fit.predict(n)))
    in_notes(f"smallest size first: {residuals}")


def test_the_claim_fails_for_a_run_at_chance():
    chance = {"test/r2_log": 0.1, "test/decades_fitted": 1.51, "test/token_ratio": 1.0,
              "test/largest_loss": math.log(len(ALPHABET))}
    assert ScalingSweep.claim(chance)["holds"] is False


def test_maths_to_code_table_names_real_code():
    TEXT.check_maths_to_code("6. From maths to code", [model, scaling, lightning, data], min_rows=15)


def test_article_excerpts_are_the_code():
    # One excerpt is the FLOP-counting test itself, so it is loaded from its file.
    spec = importlib.util.spec_from_file_location("test_model_source", Path(__file__).parent / "test_model.py")
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    TEXT.check_article_excerpts([model, scaling, lightning, data, tests], min_blocks=4)
