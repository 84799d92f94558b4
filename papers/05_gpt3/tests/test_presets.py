"""Table 2.1 as presets: each preset's parameter count, computed from the code, within 2% of the table."""

import pytest
import torch
from gpt3.model import GPT3, TABLE_2_1, attended_pairs, attention_flops, count_params, preset

# Table D.1's parameter counts (millions): a second printed number for every size.
TABLE_D_1 = {"small": 125, "medium": 356, "large": 760, "xl": 1320, "2.7b": 2650, "6.7b": 6660, "13b": 12850,
             "175b": 174600}


@pytest.mark.parametrize("name", list(TABLE_2_1))
def test_preset_parameter_count_matches_table_2_1(name):
    n = count_params(preset(name))
    assert abs(n / TABLE_2_1[name][0] - 1) < 0.02, (name, n)
    assert abs(n / (TABLE_D_1[name] * 1e6) - 1) < 0.005, (name, n)  # and Table D.1 within 0.5%


def test_presets_keep_the_table_shapes():
    cfg = preset("175b")
    shape = (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_ff, cfg.n_ctx)
    assert shape == (96, 12288, 96, 128, 49152, 2048)
    for name, (_, n_layers, d_model, n_heads, d_head) in TABLE_2_1.items():
        cfg = preset(name)
        assert cfg.n_layers == n_layers and cfg.d_head == d_head
        if n_heads * d_head == d_model:
            assert (cfg.d_model, cfg.n_heads) == (d_model, n_heads)


def test_two_rows_of_table_2_1_disagree_with_themselves():
    odd = [name for name, (_, _, d_model, n_heads, d_head) in TABLE_2_1.items() if n_heads * d_head != d_model]
    assert odd == ["xl", "13b"]
    assert (preset("xl").d_model, preset("xl").n_heads) == (2048, 16)
    assert preset("13b").d_model == 5120
    # 13B with the printed d_model 5140 would count 12.95B, 0.8% off Table D.1's 12,850M; 5120 gives 12.85B.
    assert abs(count_params(preset("13b", d_model=5140, n_heads=20)) / 12850e6 - 1) > 0.005


def test_count_on_meta_equals_a_real_model():
    cfg = preset("small", n_layers=1, n_ctx=64, vocab_size=100)
    assert count_params(cfg) == sum(p.numel() for p in GPT3(cfg).parameters())


def test_unknown_preset_is_rejected():
    with pytest.raises(ValueError, match="preset must be one of"):
        preset("gpt-4")


def test_band_savings_are_counted():
    assert attended_pairs(4, None) == 10 and attended_pairs(4, 2) == 7  # 4+3+2+1 and 1+2+2+2
    assert attended_pairs(2048, 2048) == attended_pairs(2048, None)
    cfg = preset("175b", band=256)
    f = attention_flops(cfg)
    assert f["attention_alternating"] < f["attention_dense"] < f["weights"]
    assert f["attention_alternating"] == pytest.approx(
        (attended_pairs(2048, None) + attended_pairs(2048, 256)) / 2 * 4 * 12288 * 96)


def test_meta_device_model_has_no_storage():
    with torch.device("meta"):
        model = GPT3(preset("small"))
    assert model.wte.weight.is_meta
