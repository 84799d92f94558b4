"""The benchmark runs end to end on a tiny layer (it measures speed; this only checks it works)."""

import json

import pytest
from mixture_of_experts.bench import main


def test_bench_reports_sparse_and_dense_for_every_expert_count(tmp_path):
    rows = main(["--experts", "2", "4", "--d_model", "8", "--d_expert", "8", "--tokens", "32", "--steps", "1",
                 "--device", "cpu", "--json", str(tmp_path / "b.json")])
    assert [(r["n_experts"], r["dispatch"]) for r in rows] == [(2, "sparse"), (2, "dense"), (4, "sparse"), (4, "dense")]
    assert all(r["tokens_per_s"] > 0 for r in rows)
    assert json.loads((tmp_path / "b.json").read_text())["device"] == "CPU"


def test_bench_rejects_fewer_experts_than_top_k():
    with pytest.raises(SystemExit):
        main(["--experts", "1", "--top_k", "2", "--device", "cpu"])
