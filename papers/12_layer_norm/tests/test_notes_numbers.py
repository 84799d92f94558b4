"""Every worked number in notes.md, recomputed from the code and found in the text as written.

If the code changes a number, or the notes are edited, the matching test fails: update both together.
The notes' maths-to-code table and the article's code excerpts are checked against the source too.
"""

import re
from pathlib import Path

import torch
from layer_norm import data, invariance, lightning, model
from layer_norm.invariance import TABLE_1, TRANSFORMS
from layer_norm.model import BatchNorm, LayerNormFunction
from shared.testing import PaperText

TEXT = PaperText.of(__file__)
FOLDER = Path(__file__).resolve().parents[1]
NOTES = (FOLDER / "notes.md").read_text()
NOTES_FLAT = re.sub(r"\s+", " ", NOTES)

A = torch.tensor([[1.0, 2.0, 3.0, 6.0]])  # section 4's case, d_model = 4
EPS = 1e-5


def in_notes(*strings: str) -> None:
    for s in strings:
        assert re.sub(r"\s+", " ", s) in NOTES_FLAT, f"notes.md should contain {s!r} (recomputed from the code)"


def fmt(values) -> str:
    return ", \\; ".join(f"{v:.4f}" for v in values)


def test_example_input_and_statistics():
    in_notes("$$a = [1, 2, 3, 6].$$")
    mu = A.mean().item()
    sigma2 = (A - mu).pow(2).mean().item()
    in_notes(f"$\\mu = (1 + 2 + 3 + 6) / 4 = {mu:g}$", f"$\\sigma^2 = 14 / 4 = {sigma2:g}$",
             f"$\\sqrt{{\\sigma^2 + \\epsilon}} = {(sigma2 + EPS) ** 0.5:.4f}$")


def test_example_standardised_inputs():
    a_hat = LayerNormFunction.apply(A, None, None, EPS)[0]
    in_notes(f"$$\\hat{{a}} = [{fmt(a_hat.tolist())}].$$")
    assert abs(a_hat.sum().item()) < 1e-6 and abs(a_hat.pow(2).mean().item() - 1) < 1e-4


def test_example_gain_and_bias():
    g, b = torch.tensor([1.0, 1.0, 2.0, 0.5]), torch.tensor([0.0, 0.0, 1.0, 0.0])
    in_notes("$g = [1, 1, 2, 0.5]$ and bias $b = [0, 0, 1, 0]$")
    out = LayerNormFunction.apply(A, g, b, EPS)[0]
    in_notes(f"$$\\bar{{a}} = [{fmt(out.tolist())}].$$")


def test_example_rescaled_case():
    scaled = A * 10 + 5
    assert scaled.tolist() == [[15.0, 25.0, 35.0, 65.0]]
    in_notes("$a' = [15, 25, 35, 65]$", f"$\\sigma = {(scaled - scaled.mean()).pow(2).mean().sqrt().item():.3f}$")
    same = LayerNormFunction.apply(scaled, None, None, EPS)[0]
    in_notes(f"the standardised inputs are again $[{fmt(same.tolist())}]$")


def test_example_gradient():
    a = A.clone().requires_grad_()
    dy = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    LayerNormFunction.apply(a, None, None, EPS).backward(dy)
    in_notes(f"$$\\frac{{\\partial L}}{{\\partial a}} = [{fmt(a.grad[0].tolist())}].$$")
    a_hat0 = LayerNormFunction.apply(A, None, None, EPS)[0, 0].item()
    inner = 1 - 0.25 - a_hat0 * (a_hat0 / 4)
    s = ((A - A.mean()).pow(2).mean().item() + EPS) ** 0.5
    in_notes(f"$-1.0690 / 4 = {a_hat0 / 4:.4f}$", f"= {inner:.4f} / {s:.4f} = {inner / s:.4f}$")
    assert abs(a.grad.sum().item()) < 1e-6


def test_example_batch_norm_two_cases_and_one():
    bn = BatchNorm(4)
    two = bn(torch.tensor([[1.0, 2.0, 3.0, 6.0], [3.0, 2.0, 1.0, 2.0]]))
    in_notes("second case, $[3, 2, 1, 2]$", f"(to four decimals, ${two[0, 0]:.4f}$ and ${two[1, 0]:.4f}$)")
    assert two[:, 1].abs().max() == 0  # unit 2 has no spread: 0 / sqrt(eps)
    one = bn(A)
    assert one.abs().max() == 0
    in_notes("batch norm outputs $[0, 0, 0, 0]$")


def test_self_check_answer_four():
    a_hat = LayerNormFunction.apply(torch.tensor([[2.0, 2.0, 2.0, 6.0]]), None, None, 0.0)[0]
    in_notes(f"$\\hat{{a}} = [{', '.join(f'{v:.3f}' for v in a_hat.tolist())}]$")


def test_invariance_table_in_the_notes_is_table_1():
    section = NOTES.split("### 3.7", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and not r.startswith("| change")]
    assert len(rows) == len(TRANSFORMS)
    for row, transform in zip(rows, TRANSFORMS):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].startswith(transform), (cells[0], transform)
        expected = ["invariant" if TABLE_1[k][transform] else "no" for k in ("batch", "weight", "layer")]
        assert cells[1:] == expected, (transform, cells)


# --- the maths-to-code table and the article's code excerpts ------------------------------------------------


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("6. From maths to code", (model, invariance, lightning), min_rows=12)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((model, lightning, data, invariance), min_blocks=3)
