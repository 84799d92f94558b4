"""Every worked number in notes.md, recomputed from the code; the maths-to-code table and the
article's code excerpts checked against the source."""

import torch
import torch.nn.functional as F
from bert import convert, data, lightning, model
from bert.model import BertConfig, BertModel
from shared.testing import PaperText

TEXT = PaperText.of(__file__)
in_notes = TEXT.in_notes


def test_gelu_values():
    g = {x: F.gelu(torch.tensor(x)).item() for x in (-1.0, 0.5, 1.0, 2.0)}
    in_notes(f"$\\mathrm{{GELU}}(1) = {g[1.0]:.4f}$", f"$\\mathrm{{GELU}}(-1) = -1 \\cdot 0.1587 = {g[-1.0]:.4f}$",
             f"$\\mathrm{{GELU}}(0.5) = {g[0.5]:.4f}$", f"$\\mathrm{{GELU}}(2) = {g[2.0]:.4f}$")


def test_layer_norm_example():
    out = F.layer_norm(torch.tensor([1.0, 2.0, 3.0, 6.0]), (4,), eps=1e-12)
    in_notes("$\\mathrm{LayerNorm}(x) = [" + ", ".join(f"{v:.4f}" for v in out.tolist()) + "]$")


def test_masking_example():
    n_words = 40
    chosen = max(1, round(n_words * 0.15))
    in_notes(f"$\\mathrm{{round}}(0.15 \\cdot {n_words}) = {chosen}$", f"$0.8 \\cdot {chosen} = {0.8 * chosen:.1f}$")
    # and the code agrees: exactly that many labels for a 40-word sequence
    import random

    ids = [data.CLS, *range(10, 10 + n_words), data.SEP]
    _, labels = data.mask_tokens(ids, random.Random(0), 1000)
    assert sum(label != data.IGNORE for label in labels) == chosen


def test_bert_base_parameter_count():
    base = BertModel(BertConfig(vocab_size=30522))
    emb = sum(p.numel() for p in base.embeddings.parameters())
    layer = sum(p.numel() for p in base.layers[0].parameters())
    pool = sum(p.numel() for p in base.W_pool.parameters())
    total = sum(p.numel() for p in base.parameters())
    assert total == emb + 12 * layer + pool
    fmt = lambda n: f"{n:,}".replace(",", "{,}")  # noqa: E731
    in_notes(f"= {fmt(emb)}$", f"= {fmt(layer)}$", f"= {fmt(pool)}$",
             f"${fmt(emb)} + 12 \\cdot {fmt(layer)} + {fmt(pool)} = {fmt(total)}$")


def test_maths_to_code_table_names_real_functions_and_real_lines():
    TEXT.check_maths_to_code("7. From maths to code", (model, data, lightning), min_rows=20)


def test_article_code_excerpts_match_the_code():
    TEXT.check_article_excerpts((model, lightning, data, convert), min_blocks=3)
