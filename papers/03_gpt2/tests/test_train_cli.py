"""The train entry point end to end: smoke run, resume, results, figures and one-line errors."""

import csv
import json
import subprocess
import sys

import pytest
from gpt2.lightning import CLAIM_TARGET
from gpt2.train import main

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.small_d_model", "8",
        "--model.small_n_heads", "2", "--model.small_n_layers", "1", "--model.warmup_steps", "2",
        "--model.decay_steps", "8", "--model.sample_tokens", "20", "--data.block_size", "16", "--data.batch_size", "4",
        "--data.train_batches_per_epoch", "4", "--data.val_windows", "8", "--data.test_windows", "8",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.log_every_n_steps", "2"]


@pytest.fixture
def fit(tmp_path, small_corpus):
    def run(*extra):
        main(["fit", "--run.root", str(tmp_path), "--data.text_file", str(small_corpus), *TINY, *extra])
    return run


def results(tmp_path, name):
    return json.loads((tmp_path / "03_gpt2" / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path, fit):
    fit("--trainer.fast_dev_run", "2", "--run.name", "smoke")
    run = tmp_path / "03_gpt2" / "smoke"
    out = results(tmp_path, "smoke")
    assert set(out["metrics"]) == {"test/loss", "test/loss_small"}
    assert out["claim"]["metric"] == "test/loss" and out["claim"]["threshold"] == CLAIM_TARGET
    assert "larger_is_better" in out["claim"] and "small_value" in out["claim"]
    sample = (run / "sample.txt").read_text()
    assert sample.startswith("ROMEO:\n") and len(sample) == len("ROMEO:\n") + 20
    assert (run / "tokenizer.json").is_file()


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path, fit):
    # decay_steps is fixed (TINY), so the first session's learning-rate schedule is the full run's.
    fit("--trainer.max_epochs", "2", "--run.name", "straight")
    fit("--trainer.max_epochs", "1", "--run.name", "resumed")
    assert (tmp_path / "03_gpt2" / "resumed" / "checkpoints" / "last.ckpt").is_file()
    fit("--trainer.max_epochs", "2", "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert resumed["global_step"] == straight["global_step"] == 8
    assert resumed["metrics"] == straight["metrics"]
    for name in ("straight", "resumed"):  # the figure keeps the first session's validation point
        assert (tmp_path / "03_gpt2" / name / "figures" / "val_loss_by_size.png").stat().st_size > 10_000
    assert (tmp_path / "03_gpt2" / "resumed" / "sample.txt").read_text() == \
        (tmp_path / "03_gpt2" / "straight" / "sample.txt").read_text()

    def fit_rows(name):
        path = tmp_path / "03_gpt2" / name / "metrics.csv"
        rows = list(csv.DictReader(path.open()))
        return [r for r in rows if not any(v for k, v in r.items() if k.startswith("test/"))]

    assert any(r["train/loss"] for r in fit_rows("straight"))
    assert fit_rows("resumed") == fit_rows("straight")


def test_main_model_alone_when_small_is_null(tmp_path, fit):
    fit("--trainer.fast_dev_run", "1", "--run.name", "alone", "--model.small_d_model", "null")
    out = results(tmp_path, "alone")
    assert set(out["metrics"]) == {"test/loss"} and "larger_is_better" not in out["claim"]


def test_ckpt_path_last_without_earlier_run_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.root", str(tmp_path), "--ckpt_path", "last"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("error:") and "last.ckpt" in err and "\n" not in err


@pytest.mark.parametrize(
    "args, named",
    [
        (["--model.d_model", "30"], "d_model"),
        (["--model.warmup_steps", "-1"], "warmup_steps"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--model.lr", "0"], "model.lr"),
        (["--trainer.max_epochs", "many"], "max_epochs"),
        (["--data.block_size", "0"], "block_size"),
        (["--data.text_file", "/no/such/file.txt"], "text file not found"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.root", str(tmp_path), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("error:") and named in err[0], err


def test_context_shorter_than_block_size_is_one_line_error(tmp_path, capsys, small_corpus):
    with pytest.raises(SystemExit):
        main(["fit", "--run.root", str(tmp_path), "--data.text_file", str(small_corpus), *TINY, "--model.n_ctx", "8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: model.n_ctx (8) is smaller than data.block_size (16)"


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.d_model", "--model.small_d_model", "--model.n_ctx", "--model.compile",
                    "--data.block_size", "--data.text_file", "--run.logger", "--trainer.precision", "--ckpt_path"):
        assert setting in out


def test_module_runs_as_a_script():
    proc = subprocess.run([sys.executable, "-m", "gpt2.train", "fit", "--model.n_heads", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: d_model (128) must be divisible by n_heads (5)"
