"""The worked numbers in notes.md, recomputed from the code; the maths-to-code table names real lines;
the article's code excerpts are verbatim source."""

import inspect
import re
from pathlib import Path

import llama.convert
import llama.lightning
import llama.model
import torch
from llama.lightning import VARIANTS, count_params, variant_configs
from llama.model import ModelConfig, RMSNorm, apply_rope, rope_angles, swiglu_hidden

FOLDER = Path(__file__).resolve().parents[1]
NOTES = (FOLDER / "notes.md").read_text()
ARTICLE = (FOLDER / "article.md").read_text()
MODULES = (llama.model, llama.lightning, llama.convert)


def in_notes(*snippets: str) -> None:
    for s in snippets:
        assert s in NOTES, f"notes.md should contain {s!r}"


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


def test_parameter_matching_numbers():
    base = ModelConfig(vocab_size=81, d_model=64, n_layers=4, n_heads=4, max_seq_len=64)
    configs = variant_configs(base, list(VARIANTS))
    in_notes(f"the GPT-2 row has\n{count_params(configs['gpt2']):,} parameters")
    widths = [configs[n].d_ff for n in ("swiglu", "rope", "llama")]
    in_notes(f"is {widths[0]} with biases", f"{widths[1]} with RoPE", f"{widths[2]} without biases")
    assert swiglu_hidden(4096, 256) == 11008
    in_notes("11,008")


def _normalise(code: str) -> str:
    return re.sub(r"\s+", " ", code).strip()


def test_maths_to_code_table_names_real_functions_and_lines():
    section = NOTES.split("## 6. From maths to code", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and not r.startswith("| equation")]
    assert len(rows) >= 8
    for row in rows:
        function = re.findall(r"`([\w.]+)`", row.split(" | ")[1])[0]
        owner = next(m for m in MODULES if hasattr(m, function.split(".")[0]))
        obj = owner
        for part in function.split("."):
            obj = getattr(obj, part)
        line = re.findall(r"`([^`]+)`", row.split(" | ")[2])[0]
        assert _normalise(line) in _normalise(inspect.getsource(obj)), f"{line!r} is not in {function}"


def test_article_code_excerpts_match_the_code():
    blocks = re.findall(r"```python\n(.*?)```", ARTICLE, flags=re.S)
    assert len(blocks) >= 3
    files = [[line.strip() for line in inspect.getsource(m).splitlines()] for m in MODULES]
    for block in blocks:
        lines = [line.strip() for line in block.strip("\n").splitlines()]
        assert any(lines == src[i : i + len(lines)] for src in files for i in range(len(src) - len(lines) + 1)), block
