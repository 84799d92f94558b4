"""The benchmark runs end to end on a tiny model (it measures speed; this only checks it works)."""

from attention_is_all_you_need.bench import flops_per_step, main
from attention_is_all_you_need.model import TransformerConfig


def test_bench_reports_every_variant(tmp_path):
    rows = main(["--d_model", "16", "--n_heads", "2", "--d_ff", "32", "--n_layers", "1", "--vocab_size", "20",
                 "--batch", "2", "--src_len", "4", "--tgt_len", "4", "--steps", "2", "--variants", "fp32",
                 "--json", str(tmp_path / "b.json")])
    assert [r["variant"] for r in rows] == ["fp32"] and rows[0]["tokens_per_s"] > 0
    assert (tmp_path / "b.json").is_file()


def test_flops_estimate_is_six_n_per_token_plus_attention():
    cfg = TransformerConfig(vocab_size=10, d_model=8, n_heads=2, d_ff=16, n_layers=1)
    assert flops_per_step(cfg, n_params=100, batch=1, src_len=2, tgt_len=2) == 6 * 100 * 4 + 12 * 8 * (4 + 4 + 4)
