"""The train entry point end to end: smoke run, resume, results, figures and one-line errors."""

import csv
import json
import subprocess
import sys

import pytest
from palm.train import main
from shared.data.text import load_shakespeare

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.sample_chars", "20",
        "--data.plays", "[macbeth]", "--data.seq_len", "32", "--data.batch_size", "8", "--data.val_windows", "4",
        "--data.test_windows", "8", "--trainer.val_check_interval", "2", "--trainer.log_every_n_steps", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def fit(tmp_path, *extra):
    main(["fit", "--run.root", str(tmp_path), *TINY, *extra])


def results(tmp_path, name):
    return json.loads((tmp_path / "14_palm" / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path):
    fit(tmp_path, "--trainer.fast_dev_run", "2", "--run.name", "smoke")
    run = tmp_path / "14_palm" / "smoke"
    out = results(tmp_path, "smoke")
    assert set(out["metrics"]) == {"test/loss_parallel", "test/loss_serial", "test/relative_gap"}
    assert out["claim"]["metric"] == "test/relative_gap" and out["claim"]["threshold"] == 0.03
    samples = (run / "samples.txt").read_text()
    assert "--- parallel block ---" in samples and "--- serial block ---" in samples


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path):
    # A 1,000-character corpus: 900 for training, 28 windows of 32, so an epoch is 4 steps of batch 8.
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(load_shakespeare(("macbeth",))[:1000])
    # Epoch-based here (the default config counts max_steps instead): resume is exact at an epoch's end.
    epochs = ["--data.text_file", str(corpus), "--trainer.val_check_interval", "1.0",
              "--trainer.check_val_every_n_epoch", "1", "--trainer.max_steps", "-1"]
    fit(tmp_path, *epochs, "--trainer.max_epochs", "2", "--run.name", "straight")
    fit(tmp_path, *epochs, "--trainer.max_epochs", "1", "--run.name", "resumed")
    fit(tmp_path, *epochs, "--trainer.max_epochs", "2", "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert straight["global_step"] == 8 and resumed["global_step"] == 8
    assert resumed["metrics"] == straight["metrics"]
    assert (tmp_path / "14_palm" / "resumed" / "figures" / "val_loss.png").stat().st_size > 10_000

    def fit_rows(name):
        rows = list(csv.DictReader((tmp_path / "14_palm" / name / "metrics.csv").open()))
        return [r for r in rows if not any(v for k, v in r.items() if k.startswith("test/"))]

    assert any(r["train/loss_parallel"] for r in fit_rows("straight"))
    assert fit_rows("resumed") == fit_rows("straight")


@pytest.mark.parametrize(
    "args, named",
    [
        (["--model.n_heads", "5"], "n_heads"),
        (["--model.blocks", "[sideways]"], "model.blocks"),
        (["--model.lr", "0"], "model.lr"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.seq_len", "0"], "seq_len"),
        (["--data.text_file", "/nonexistent/corpus.txt"], "text file not found"),
        (["--data.seq_len", "300", "--model.max_len", "256"], "exceeds max_len"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, "--trainer.fast_dev_run", "1", *args)
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("run folder")]
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("error:") and named in err[0], err


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.blocks", "--model.multi_query", "--model.z_loss", "--data.plays", "--data.text_file",
                    "--trainer.strategy", "--ckpt_path", "--config"):
        assert setting in out


def test_module_runs_as_a_script():
    proc = subprocess.run([sys.executable, "-m", "palm.train", "fit", "--model.n_heads", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: d_model (96) must be divisible by n_heads (5)"
