"""The train entry point end to end: smoke run, resume, results, figures and one-line errors."""

import json
import subprocess
import sys

import pytest
from layer_norm.train import main

TINY = ["--model.rnn_d_model", "16", "--model.d_embed", "8", "--model.mlp_d_model", "16",
        "--data.plays", "[macbeth]", "--data.seq_len", "8", "--data.text_batch_size", "8",
        "--data.digits_batch_size", "4", "--data.n_val_windows", "16", "--trainer.limit_train_batches", "3",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.log_every_n_steps", "1"]


def fit(tmp_path, *extra):
    main(["fit", "--run.root", str(tmp_path), *TINY, *extra])


def results(tmp_path, name):
    return json.loads((tmp_path / "12_layer_norm" / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path):
    fit(tmp_path, "--trainer.fast_dev_run", "1", "--run.name", "smoke")
    out = results(tmp_path, "smoke")
    for name in ("rnn_none", "rnn_batch", "rnn_layer"):
        assert f"test/{name}_loss" in out["metrics"] and f"test/{name}_mean_train_loss" in out["metrics"]
    for name in ("mlp_layer", "mlp1_batch", "mlp1_layer"):
        assert f"test/{name}_accuracy" in out["metrics"]
    assert out["metrics"]["test/table1_agreement"] == 1.0
    assert set(out["claim"]["checks"]) == {"rnn: none - layer mean train loss", "mlp: none - layer mean train loss",
                                           "batch 1: layer test accuracy", "batch 1: batch-norm mean train loss",
                                           "table 1 agreement"}
    figures = tmp_path / "12_layer_norm" / "smoke" / "figures"
    assert (figures / "learning_curves.png").stat().st_size > 10_000
    assert (figures / "batch_size_one.png").stat().st_size > 10_000


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path):
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "straight")
    fit(tmp_path, "--trainer.max_epochs", "1", "--run.name", "resumed")
    assert (tmp_path / "12_layer_norm" / "resumed" / "checkpoints" / "last.ckpt").is_file()
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert resumed["global_step"] == straight["global_step"]
    # Every model's held-out numbers and its whole training-loss history (kept in the checkpoint).
    assert resumed["metrics"] == straight["metrics"]


def test_ckpt_path_last_without_earlier_run_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, "--ckpt_path", "last")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("error:") and "last.ckpt" in err and "\n" not in err


@pytest.mark.parametrize(
    "args, named",
    [
        (["--model.lr", "0"], "model.lr"),
        (["--model.rnn_d_model", "0"], "d_model"),
        (["--model.lrr", "0.1"], "lrr"),
        (["--data.seq_len", "0"], "seq_len"),
        (["--data.plays", "[hamlett]"], "hamlett"),
        (["--trainer.max_epochs", "many"], "max_epochs"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.root", str(tmp_path), *TINY, "--trainer.fast_dev_run", "1", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("error:") and named in err[0], err


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.lr", "--model.rnn_d_model", "--model.compile", "--data.plays", "--data.seq_len",
                    "--run.logger", "--trainer.precision", "--ckpt_path", "--config"):
        assert setting in out


def test_module_runs_as_a_script():
    proc = subprocess.run([sys.executable, "-m", "layer_norm.train", "fit", "--model.lr", "-1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: model.lr must be > 0, got -1.0"
