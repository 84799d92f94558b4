import json

from gpt1.train import main


def test_fast_dev_run_writes_results(tmp_path):
    main(["fit", "--run.root", str(tmp_path), "--run.name", "smoke", "--trainer.fast_dev_run", "2",
          "--trainer.enable_progress_bar", "false"])
    out = json.loads((tmp_path / "04_gpt1" / "smoke" / "results.json").read_text())
    assert "test/accuracy" in out["metrics"]
