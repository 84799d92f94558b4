"""The worked numbers in notes.md, recomputed from the code; the maths-to-code table names real lines;
the article's code excerpts are verbatim source."""

import math

import llama.convert
import llama.lightning
import llama.model
import torch
from llama.lightning import VARIANTS, count_params, variant_configs
from llama.model import ModelConfig, RMSNorm, apply_rope, rope_angles, swiglu_hidden
from shared.testing import PaperText

TEXT = PaperText.of(__file__)
MODULES = (llama.model, llama.lightning, llama.convert)
in_notes = TEXT.in_notes


def test_rmsnorm_example():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    out = RMSNorm(4)(x)[0].tolist()
    rms = x.pow(2).mean().sqrt().item()
    in_notes(f"$\\mathrm{{RMS}}(x) = \\sqrt{{7.5}} = {rms:.4f}$", "[" + ", ".join(f"{v:.4f}" for v in out) + "]")


def test_rope_example():
    cos, sin = rope_angles(8, 4)
    q = torch.tensor([1.0, 0.0, 1.0, 0.0]).view(1, 1, 1, 4)
    k = torch.tensor([0.0, 1.0, 1.0, 1.0]).view(1, 1, 1, 4)

    def rot(x, m):
        return apply_rope(x, cos[m : m + 1], sin[m : m + 1]).flatten()

    def score(m, n):
        return float(rot(q, m) @ rot(k, n))

    in_notes("$q'_3 = [" + ", ".join(f"{v:.4f}" for v in rot(q, 3).tolist()) + "]$")
    assert abs(score(3, 1) - score(5, 3)) < 1e-6
    in_notes(f"key at 1 is ${score(3, 1):.4f}$", f"the same ${score(5, 3):.4f}$", f"gives ${score(1, 3):.4f}$")
    assert score(0, 0) == 1.0

    # The closed form of section 3.4, pair by pair: (q0 k0 + q1 k1) cos(phi) + (q0 k1 - q1 k0) sin(phi).
    def pair_score(qp, kp, phi):
        return (qp[0] * kp[0] + qp[1] * kp[1]) * math.cos(phi) + (qp[0] * kp[1] - qp[1] * kp[0]) * math.sin(phi)

    thetas = [1.0, 0.01]  # 10000^(-2i/4) for i = 0, 1
    pairs = [pair_score((1, 0), (0, 1), 2 * thetas[0]), pair_score((1, 0), (1, 1), 2 * thetas[1])]
    assert abs(sum(pairs) - score(3, 1)) < 1e-5
    back = [pair_score((1, 0), (0, 1), -2 * thetas[0]), pair_score((1, 0), (1, 1), -2 * thetas[1])]
    assert abs(sum(back) - score(1, 3)) < 1e-5
    in_notes(f"$0 \\cdot \\cos 2 + 1 \\cdot \\sin 2 = {pairs[0]:.4f}$",
             f"$1 \\cdot \\cos 0.02 + 1 \\cdot \\sin 0.02 = {pairs[1]:.4f}$",
             f"${back[0]:.4f} + {back[1]:.4f} = {sum(back):.4f}$")


def test_self_check_rope_answer():
    cos, sin = rope_angles(13, 2)  # one pair, theta_0 = 1

    def rot(x, m):
        return apply_rope(torch.tensor(x).view(1, 1, 1, 2), cos[m : m + 1], sin[m : m + 1]).flatten()

    q, k = rot([1.0, 0.0], 2), rot([1.0, 0.0], 1)
    s = float(q @ k)
    assert abs(s - math.cos(1.0)) < 1e-6
    assert abs(float(rot([1.0, 0.0], 12) @ rot([1.0, 0.0], 11)) - s) < 1e-5
    in_notes(f"$(\\cos 2, \\sin 2) = ({q[0]:.4f}, {q[1]:.4f})$", f"$(\\cos 1, \\sin 1) = ({k[0]:.4f}, {k[1]:.4f})$",
             f"$-{abs(q[0]):.4f} \\cdot {k[0]:.4f} + {q[1]:.4f} \\cdot {k[1]:.4f} = {s:.4f}$")


def test_parameter_matching_numbers():
    base = ModelConfig(vocab_size=81, d_model=64, n_layers=4, n_heads=4, max_seq_len=64)
    configs = variant_configs(base, list(VARIANTS))
    in_notes(f"the GPT-2 row has\n{count_params(configs['gpt2']):,} parameters")
    widths = [configs[n].d_ff for n in ("swiglu", "rope", "llama")]
    assert widths == [171, 176, 180]
    in_notes(f"is {widths[0]} with biases", f"{widths[1]} with RoPE", f"{widths[2]} without biases")
    in_notes(f"| 256 (GELU); {widths[0]}, {widths[1]} and {widths[2]} (the three SwiGLU rows, section 3.3) |")
    in_notes(f"(at $d_{{model}} = 64$ it would give {swiglu_hidden(64)})")
    # The hand derivation of the first width: 194 h + 64 = 33,088 + 576 / 4.
    gelu_mlp = 2 * 64 * 256 + 256 + 64
    freed_by_rmsnorm = count_params(configs["gpt2"]) - count_params(configs["rmsnorm"])
    h = (gelu_mlp + freed_by_rmsnorm / 4 - 64) / (3 * 64 + 2)
    assert round(h) == widths[0]
    in_notes(f"2 \\cdot 64 \\cdot 256 + 256 + 64 = {gelu_mlp:,}$ parameters".replace(",", "{,}"),
             f"the final norm, $9 \\cdot 64 = {freed_by_rmsnorm}$", f"gives $h = {h:.2f}$, rounded to {widths[0]}")
    # Table 2's four widths through Meta's rounding (int(2/3 * 4d), up to a multiple of 256).
    for d_model, width in ((4096, 11008), (5120, 13824), (6656, 17920), (8192, 22016)):
        assert swiglu_hidden(d_model, 256) == width
        in_notes(f"| {d_model} | {2 * 4 * d_model / 3:.1f} | {width:,} |")
    # Self-check 2: the width that keeps a 512 -> 2048 GELU MLP's weights.
    assert swiglu_hidden(512) == 1365 and swiglu_hidden(512, 256) == 1536
    in_notes(f"`swiglu_hidden(512)` returns {swiglu_hidden(512)}", f"would give {swiglu_hidden(512, 256)}")


def test_maths_to_code_table_names_real_functions_and_lines():
    TEXT.check_maths_to_code("6. From maths to code", MODULES, min_rows=8)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts(MODULES, min_blocks=3)
