"""The train entry point end to end: smoke run, resume, results, figures and one-line errors."""

import csv
import json
import subprocess
import sys

import pytest
from vision_transformer.train import main

PAPER = "16_vision_transformer"
TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.d_ff", "32", "--model.n_layers", "1",
        "--model.cnn_width", "4", "--model.warmup_steps", "5",
        "--model.schedule_steps", "22", "--data.fractions", "[0.25, 1.0]",
        "--data.batch_size", "128", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.log_every_n_steps", "4"]


def fit(tmp_path, *extra):
    main(["fit", "--run.root", str(tmp_path), *TINY, *extra])


def results(tmp_path, name):
    return json.loads((tmp_path / PAPER / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path):
    fit(tmp_path, "--trainer.fast_dev_run", "2", "--run.name", "smoke")
    run = tmp_path / PAPER / "smoke"
    out = results(tmp_path, "smoke")
    assert set(out["metrics"]) == {"test/loss", "test/accuracy", "test/vit_accuracy_frac_25",
                                   "test/vit_accuracy_frac_100", "test/cnn_accuracy_frac_25",
                                   "test/cnn_accuracy_frac_100"}
    assert out["claim"]["metric"] == "test/accuracy" and out["claim"]["threshold"] == 0.95
    assert "cnn_lead_smallest_fraction" in out["claim"]
    for name in ("data_efficiency.png", "attention_rollout.png", "position_similarity.png"):
        assert (run / "figures" / name).stat().st_size > 5_000, name


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path):
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "straight")
    fit(tmp_path, "--trainer.max_epochs", "1", "--run.name", "resumed")
    assert (tmp_path / PAPER / "resumed" / "checkpoints" / "last.ckpt").is_file()
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert resumed["global_step"] == straight["global_step"] == 22  # 2 epochs of ceil(1288 / 128) steps
    assert resumed["metrics"] == straight["metrics"]

    def fit_rows(name):
        path = tmp_path / PAPER / name / "metrics.csv"
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
        (["--model.patch_size", "3"], "patch_size"),
        (["--model.warmup_steps", "0"], "warmup_steps"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.fractions", "[0.0, 0.5]"], "data.fractions"),
        (["--data.dataset", "mnist"], "data.dataset"),
        (["--data.dataset", "cifar10", "--data.data_dir", "/nonexistent", "--model.image_size", "32",
          "--model.in_channels", "3", "--model.patch_size", "4"], "--data.download true"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.root", str(tmp_path), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("error:") and named in err[0], err


def test_data_and_model_mismatch_ends_in_one_line_error(tmp_path, capsys):
    # Found when training starts (the model meets the data in setup), after Lightning's own start-up
    # lines: no traceback, and the last line names both settings.
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.root", str(tmp_path), "--model.in_channels", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and not any("Traceback" in line for line in err)
    assert err[-1].startswith("error:") and "in_channels" in err[-1] and "data.dataset" in err[-1], err


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.patch_size", "--model.d_model", "--model.cnn_baseline", "--data.fractions",
                    "--data.dataset", "--data.download", "--run.logger", "--trainer.precision", "--ckpt_path"):
        assert setting in out


def test_module_runs_as_a_script():
    proc = subprocess.run([sys.executable, "-m", "vision_transformer.train", "fit", "--model.n_heads", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: d_model (64) must be divisible by n_heads (5)"
