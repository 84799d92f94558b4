"""Every worked number in notes.md, recomputed from the code and found in the text as written.
The maths-to-code table and the article's code excerpts are checked against the source too."""

import re
from pathlib import Path

import torch
from resnet import data, lightning, model
from resnet.lightning import DegradationExperiment
from resnet.model import BasicBlock, ResNet, imagenet_config
from shared.testing import PaperText

TEXT = PaperText.of(__file__)
FOLDER = Path(__file__).resolve().parents[1]
NOTES = (FOLDER / "notes.md").read_text()
NOTES_FLAT = re.sub(r"\s+", " ", NOTES)


def in_notes(*strings: str) -> None:
    for s in strings:
        assert re.sub(r"\s+", " ", s) in NOTES_FLAT, f"notes.md should contain {s!r} (recomputed from the code)"


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def worked_block() -> BasicBlock:
    """The notes' 2-channel block on a 1x1 image: 3x3 kernels that are zero except at the centre."""
    block = BasicBlock(2, 2).eval()
    w1 = torch.tensor([[1.0, -1.0], [0.5, 1.0]])  # x W_1, rows = input channels
    w2 = torch.tensor([[-0.4, 0.2], [1.0, 1.0]])
    with torch.no_grad():
        for conv, w in ((block.conv1, w1), (block.conv2, w2)):
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = w.T  # a conv weight is [out, in]: the transpose of the row-vector W
    return block


def fmt(t: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in t.flatten().tolist()) + "]"


def test_worked_block_example():
    in_notes("$$x = [2, 1], \\quad W_1 = \\begin{bmatrix} 1 & -1 \\\\ 0.5 & 1 \\end{bmatrix}, \\quad "
             "W_2 = \\begin{bmatrix} -0.4 & 0.2 \\\\ 1 & 1 \\end{bmatrix}$$")
    block = worked_block()
    x = torch.tensor([2.0, 1.0]).view(1, 2, 1, 1)
    with torch.no_grad():
        f, y = block.residual_function(x), block(x)
        h = torch.relu(block.bn1(block.conv1(x)))
    in_notes(f"The code gives $F(x) = {fmt(f)}$ and $y = {fmt(y)}$.")
    torch.testing.assert_close(h.flatten(), torch.tensor([2.5, 0.0]), atol=1e-4, rtol=0)
    in_notes("ReLU: $h = [2.5, 0]$.", "$y = \\sigma(F(x) + x) = \\sigma([1, 1.5]) = [1, 1.5]$")
    # The plain block with the same weights: ReLU(F(x)).
    plain = torch.relu(f).flatten()
    torch.testing.assert_close(plain, torch.tensor([0.0, 0.5]), atol=1e-4, rtol=0)
    in_notes("outputs $\\sigma(F(x)) = [0, 0.5]$")
    # "Do nothing": W_2 = 0 gives y = x.
    with torch.no_grad():
        block.conv2.weight.zero_()
        torch.testing.assert_close(block(x), x)
    in_notes("$F(x) = [0, 0]$ and $y = \\sigma(x) = [2, 1]$")


def test_parameter_counts_of_the_default_nets():
    nets = DegradationExperiment().nets
    rows = {"plain8": "plain-8", "resnet8": "ResNet-8", "plain32": "plain-32", "resnet32": "ResNet-32"}
    for key, label in rows.items():
        in_notes(f"| {label} | {n_params(nets[key]):,} |")
    diff = n_params(nets["resnet32"]) - n_params(nets["plain32"])
    assert diff == n_params(nets["resnet8"]) - n_params(nets["plain8"]) == 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    in_notes(f"The difference, {diff:,}, is the two projections")


def test_imagenet_parameter_counts():
    for depth in (18, 34, 50):
        in_notes(f"{n_params(ResNet(imagenet_config(depth))):,}")


def test_bottleneck_arithmetic():
    assert 256 * 64 + 9 * 64 * 64 + 64 * 256 == 69_632 and 2 * 9 * 256**2 == 1_179_648
    in_notes("= 69{,}632$", "= 1{,}179{,}648$")


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("5. From maths to code", (model, lightning, data), min_rows=10)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((model, lightning, data), min_blocks=2)
