"""The decoding benchmark runs end to end on a tiny model (it measures speed; this only checks it works)."""

from palm.bench import main


def test_bench_reports_both_attentions_and_the_cache_ratio(tmp_path):
    rows = main(["--d_model", "32", "--n_heads", "4", "--n_layers", "1", "--batch", "2", "--prompt", "8",
                 "--new", "4", "--json", str(tmp_path / "b.json")])
    assert [r["attention"] for r in rows] == ["multi-head", "multi-query"]
    assert all(r["tokens_per_s"] > 0 for r in rows)
    assert (tmp_path / "b.json").is_file()
    assert rows[1]["params"] < rows[0]["params"]
