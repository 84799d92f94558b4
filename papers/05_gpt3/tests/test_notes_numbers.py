"""Every worked number in notes.md (and the README's preset counts), recomputed from the code and found in
the text as written; the maths-to-code table and the article's code excerpts checked against the source."""

from gpt3 import data, lightning, model
from gpt3.lightning import FEW_SHOT_MIN, ZERO_SHOT_MARGIN
from gpt3.model import TABLE_2_1, GPT3Config, attended_pairs, attention_flops, band_mask, count_params, preset
from shared.testing import PaperText

TEXT = PaperText.of(__file__)
in_notes = TEXT.in_notes


def test_glossary_line_sits_under_the_title():
    head = TEXT.notes.split("## Contents")[0]
    assert "New to a term? See the [glossary](../glossary.md) and the [maths quick reference](../maths.md)." in head


def test_band_example():
    rows = "\n".join(" ".join(str(v) for v in row) for row in band_mask(5, 2).int().tolist())
    assert rows in TEXT.notes
    assert (attended_pairs(5, None), attended_pairs(5, 2)) == (15, 9)
    in_notes("The dense causal mask has 15 ones", "the band has 9 = 5 · 2 − 2 · 1 / 2")
    in_notes(f"a dense head scores {attended_pairs(33, None)} pairs, a band of 4 scores {attended_pairs(33, 4)}")


def test_small_parameter_count_by_hand():
    d, L, V, n = 768, 12, 50257, 2048
    parts = [12 * L * d * d, 13 * L * d, (V + n) * d, 2 * d]
    in_notes(*(f"{p:,}".replace(",", "{,}") for p in parts[:3]))
    total = count_params(preset("small"))
    assert sum(parts) == total
    in_notes(f"Total **{total:,}**")


def test_175b_count_and_band_savings():
    n = count_params(preset("175b"))
    in_notes(f"**{n:,}**", f"{(1 - n / 175e9) * 100:.2f}% under Table 2.1",
             f"{abs(n / 174600e6 - 1) * 100:.3f}% off Table D.1")
    f = attention_flops(preset("175b", band=256))
    dense, banded = attended_pairs(2048, None), attended_pairs(2048, 256)
    total = f["attention_dense"] + f["weights"]
    in_notes(f"dense pairs {dense:,}, banded {banded:,} ({banded / dense * 100:.1f}%)",
             f"cuts the attention FLOPs by {(1 - f['attention_alternating'] / f['attention_dense']) * 100:.1f}%",
             f"dense attention is {f['attention_dense'] / f['weights'] * 100:.2f}% of the weight FLOPs",
             f"saves about {(f['attention_dense'] - f['attention_alternating']) / total * 100:.2f}%")
    assert 2048 * 2048 * 2 / 2**20 == 8  # "8 MiB dense" for one fp16 head
    assert banded * 2 / 2**20 < 1  # "under 1 MiB banded"


def test_default_model_sizes():
    common = dict(vocab_size=48, n_ctx=33)
    large = count_params(GPT3Config(d_model=64, n_heads=4, n_layers=4, **common))
    small = count_params(GPT3Config(d_model=32, n_heads=2, n_layers=2, **common))
    in_notes(f"{large:,} parameters", f"{small:,} parameters")
    TEXT.in_readme(f"({large:,} params)", f"({small:,} params)")
    dm = data.Data()
    assert (dm.vocab_size, dm.seq_len) == (48, 33)


def test_table_2_1_odd_rows_as_the_notes_say():
    in_notes("24 heads × 128 = 3,072 but d_model is 2,048", "40 × 128 = 5,120 but d_model is printed 5,140")
    assert TABLE_2_1["xl"][2:] == (2048, 24, 128) and TABLE_2_1["13b"][2:] == (5140, 40, 128)


def test_readme_preset_counts_and_thresholds():
    for name in TABLE_2_1:
        TEXT.in_readme(f"{count_params(preset(name)):,}")
    TEXT.in_readme(f"{(0.125 + ZERO_SHOT_MARGIN) * 100:.1f}% bound", f"at least {FEW_SHOT_MIN * 100:.0f}%")


def test_maths_to_code_table():
    assert TEXT.check_maths_to_code("6. From maths to code", [model, data, lightning], min_rows=20) >= 20


def test_article_excerpts_are_real_code():
    TEXT.check_article_excerpts([model, data, lightning], min_blocks=3)
