"""The benchmark runs end to end on a tiny model (it measures speed; this only checks it works)."""

import json

from gpt2.bench import flops_per_token, main
from gpt2.model import GPT2Config


def test_bench_prints_one_json_line_per_variant(tmp_path, capsys):
    rows = main(["--d_model", "16", "--n_heads", "2", "--n_layers", "1", "--vocab_size", "40", "--batch", "2",
                 "--seq", "8", "--steps", "2", "--warmup", "1", "--variants", "fp32", "bf16",
                 "--json", str(tmp_path / "b.json")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["variant"] for line in lines] == ["fp32", "bf16"]
    assert all(r["tokens_per_s"] > 0 and r["step_ms"] > 0 for r in rows)
    assert json.loads((tmp_path / "b.json").read_text())["results"] == rows


def test_flops_are_six_n_per_token_plus_attention():
    cfg = GPT2Config(vocab_size=10, n_ctx=4, d_model=8, n_heads=2, n_layers=3)
    assert flops_per_token(cfg, n_params=100, seq=4) == 6 * 100 + 12 * 3 * 8 * 4
