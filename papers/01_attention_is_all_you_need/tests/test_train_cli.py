"""The train entry point end to end: smoke run, resume, results, figures and one-line errors."""

import csv
import json
import subprocess
import sys

import pytest
from attention_is_all_you_need.train import main

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.d_ff", "32", "--model.n_layers", "1",
        "--model.warmup_steps", "20", "--data.train_size", "256", "--data.val_size", "32",
        "--data.test_size", "64", "--data.batch_size", "32", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.log_every_n_steps", "4"]


def fit(tmp_path, *extra):
    main(["fit", "--run.root", str(tmp_path), *TINY, *extra])


def results(tmp_path, name):
    return json.loads((tmp_path / "01_attention_is_all_you_need" / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path):
    fit(tmp_path, "--trainer.fast_dev_run", "2", "--run.name", "smoke")
    run = tmp_path / "01_attention_is_all_you_need" / "smoke"
    out = results(tmp_path, "smoke")
    assert set(out["metrics"]) == {"test/loss", "test/exact_match", "test/exact_match_beam"}
    assert out["claim"]["metric"] == "test/exact_match" and out["claim"]["threshold"] == 0.95
    assert (run / "figures" / "cross_attention.png").stat().st_size > 10_000


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path):
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "straight")
    fit(tmp_path, "--trainer.max_epochs", "1", "--run.name", "resumed")
    assert (tmp_path / "01_attention_is_all_you_need" / "resumed" / "checkpoints" / "last.ckpt").is_file()
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert resumed["global_step"] == straight["global_step"] == 16
    assert resumed["metrics"] == straight["metrics"]
    # metrics.csv keeps both sessions' rows: training and validation rows match the uninterrupted
    # run's (the first session's own end-of-fit test rows are extra, and dropped here).
    def fit_rows(name):
        path = tmp_path / "01_attention_is_all_you_need" / name / "metrics.csv"
        rows = list(csv.DictReader(path.open()))
        return [r for r in rows if not any(v for k, v in r.items() if k.startswith("test/"))]

    assert any(r["train/loss"] for r in fit_rows("straight"))
    assert fit_rows("resumed") == fit_rows("straight")


def test_ckpt_path_last_without_earlier_run_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, "--ckpt_path", "last")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("error:") and "last.ckpt" in err and "\n" not in err


@pytest.mark.parametrize(
    "args, named",
    [
        (["--model.d_model", "30"], "d_model"),
        (["--model.warmup_steps", "0"], "warmup_steps"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--trainer.max_epochs", "many"], "max_epochs"),
        (["--run.logger", "mlflow"], "run.logger"),
        (["--data.batch_size", "0"], "batch_size"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.root", str(tmp_path), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("error:") and named in err[0], err


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.d_model", "--model.warmup_steps", "--data.train_size", "--run.logger",
                    "--trainer.precision", "--ckpt_path", "--config"):
        assert setting in out


def test_module_runs_as_a_script():
    proc = subprocess.run([sys.executable, "-m", "attention_is_all_you_need.train", "fit", "--model.n_heads", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: d_model (64) must be divisible by n_heads (5)"
