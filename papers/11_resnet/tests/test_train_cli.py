"""The train entry point end to end: smoke run, resume, results, figure and one-line errors."""

import csv
import json
import subprocess
import sys

import pytest
from resnet.train import main

PAPER = "11_resnet"
TINY = ["--model.depths", "[8,14]", "--model.widths", "[4,8,8]", "--data.batch_size", "256",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.log_every_n_steps", "2"]


def fit(tmp_path, *extra):
    main(["fit", "--run.root", str(tmp_path), *TINY, *extra])


def results(tmp_path, name):
    return json.loads((tmp_path / PAPER / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path):
    fit(tmp_path, "--trainer.fast_dev_run", "2", "--run.name", "smoke")
    out = results(tmp_path, "smoke")
    names = ["plain8", "resnet8", "plain14", "resnet14"]
    assert set(out["metrics"]) == {f"{s}/{n}" for s in ("train_error", "test_error") for n in names}
    assert set(out["claim"]["value"]) == {"plain_gap", "residual_gap"} and isinstance(out["claim"]["holds"], bool)


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path):
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "straight")
    fit(tmp_path, "--trainer.max_epochs", "1", "--run.name", "resumed")
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert resumed["global_step"] == straight["global_step"] == 12
    assert resumed["metrics"] == straight["metrics"]

    def fit_rows(name):
        rows = list(csv.DictReader((tmp_path / PAPER / name / "metrics.csv").open()))
        return [r for r in rows if not any(v for k, v in r.items() if k.startswith(("test_error/", "train_error/")))]

    assert any(r["train/error_plain14"] for r in fit_rows("straight"))
    assert fit_rows("resumed") == fit_rows("straight")
    assert (tmp_path / PAPER / "straight" / "figures" / "degradation.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "args, named",
    [
        (["--model.depths", "[8,15]"], "6n + 2"),
        (["--model.lr", "0"], "model.lr"),
        (["--model.dept", "[8,14]"], "dept"),
        (["--data.dataset", "mnist"], "dataset"),
        (["--data.batch_size", "0"], "batch_size"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.root", str(tmp_path), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("error:") and named in err[0], err


def test_missing_cifar10_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, "--data.dataset", "cifar10", "--data.root", str(tmp_path / "nowhere"),
            "--model.in_channels", "3")
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the "run folder:" line
    assert exit_info.value.code == 2 and err.startswith("error: CIFAR-10 not found") and "--data.download" in err


def test_channels_mismatch_between_model_and_data_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        fit(tmp_path, "--model.in_channels", "3")
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: model.in_channels is 3")


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.depths", "--model.shortcut", "--model.zero_init_residual", "--data.dataset",
                    "--data.download", "--trainer.precision", "--ckpt_path", "--config"):
        assert setting in out


def test_module_runs_as_a_script():
    proc = subprocess.run([sys.executable, "-m", "resnet.train", "fit", "--model.depths", "[20,21]"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: model: CIFAR-style depth must be 6n + 2 with n >= 1 "
                                   "(20, 32, 44, 56, 110), got 21")
