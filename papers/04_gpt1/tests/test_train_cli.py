"""The train entry point end to end: smoke run, resume, results, figures and one-line errors."""

import json
import subprocess
import sys

import pytest
from gpt1.train import main

TINY = ["--model.n_positions", "32", "--model.d_model", "16", "--model.n_heads", "2", "--model.d_ff", "32",
        "--model.n_layers", "1", "--model.pretrain_epochs", "1", "--model.finetune_epochs", "1",
        "--model.warmup_steps", "2", "--data.block_size", "32", "--data.max_line", "10",
        "--data.n_train_pairs", "64", "--data.n_val_pairs", "32", "--data.n_test_pairs", "32",
        "--data.n_val_windows", "8", "--data.plays", "[macbeth]", "--trainer.max_epochs", "2",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.log_every_n_steps", "1"]
METRICS = {"test/lm_loss", "test/acc_pretrained", "test/acc_scratch", "test/acc_pretrained_no_aux"}


def fit(tmp_path, *extra):
    main(["fit", "--run.root", str(tmp_path), *TINY, *extra])


def results(tmp_path, name):
    return json.loads((tmp_path / "04_gpt1" / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path):
    fit(tmp_path, "--trainer.fast_dev_run", "2", "--run.name", "smoke")
    run = tmp_path / "04_gpt1" / "smoke"
    out = results(tmp_path, "smoke")
    assert set(out["metrics"]) == METRICS
    assert out["claim"]["metric"] == "test/acc_pretrained - test/acc_scratch"
    assert (run / "samples.txt").read_text().startswith("ROMEO:\n")


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path):
    # Stop after stage 1 and resume into stage 2: the weight hand-over must happen exactly once.
    fit(tmp_path, "--run.name", "straight")
    fit(tmp_path, "--trainer.max_epochs", "1", "--run.name", "resumed")
    assert (tmp_path / "04_gpt1" / "resumed" / "checkpoints" / "last.ckpt").is_file()
    fit(tmp_path, "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert resumed["global_step"] == straight["global_step"] == 4
    assert set(straight["metrics"]) == METRICS
    assert resumed["metrics"] == straight["metrics"]
    assert (tmp_path / "04_gpt1" / "straight" / "figures" / "finetune_accuracy.png").stat().st_size > 10_000


def test_ckpt_path_last_without_earlier_run_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, "--ckpt_path", "last")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("error:") and "last.ckpt" in err and "\n" not in err


@pytest.mark.parametrize(
    "args, named",
    [
        (["--model.n_heads", "3"], "n_heads"),
        (["--model.pretrain_epochs", "0"], "pretrain_epochs"),
        (["--model.aux_weight", "-1"], "aux_weight"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.plays", "[hamlet2]"], "hamlet2"),
        (["--trainer.max_epochs", "5"], "trainer.max_epochs"),
        (["--data.block_size", "64"], "model.n_positions"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, *args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert err and err[-1].startswith("error:") and named in err[-1], err


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.aux_weight", "--model.pretrain_epochs", "--model.finetune_lr", "--data.n_train_pairs",
                    "--data.max_line", "--run.logger", "--trainer.precision", "--ckpt_path", "--config"):
        assert setting in out


def test_module_runs_as_a_script():
    proc = subprocess.run([sys.executable, "-m", "gpt1.train", "fit", "--model.n_heads", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: d_model (64) must be divisible by n_heads (5)"
