"""The train entry point end to end: smoke run, resume, results, figures and one-line errors."""

import csv
import json

import pytest
from llama.train import main

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.block_size", "16",
        "--model.variants", "[gpt2, llama]", "--model.warmup_steps", "2",
        "--model.decay_steps", "8", "--data.block_size", "16",
        "--data.batch_size", "8", "--data.train_windows", "32", "--data.val_windows", "8",
        "--data.test_windows", "8", "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", "--trainer.log_every_n_steps", "2"]


def fit(tmp_path, *extra):
    main(["fit", "--run.root", str(tmp_path), *TINY, *extra])


def results(tmp_path, name):
    return json.loads((tmp_path / "09_llama" / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path):
    fit(tmp_path, "--trainer.fast_dev_run", "2", "--run.name", "smoke")
    run = tmp_path / "09_llama" / "smoke"
    out = results(tmp_path, "smoke")
    assert set(out["metrics"]) == {"test/loss_gpt2", "test/loss_llama"}
    assert out["claim"]["metric"] == "test/loss_gpt2 - test/loss_llama"
    assert (run / "figures" / "ablation.png").stat().st_size > 10_000
    assert (run / "sample.txt").read_text().startswith("ROMEO:\n")


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path):
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "straight")
    fit(tmp_path, "--trainer.max_epochs", "1", "--run.name", "resumed")
    fit(tmp_path, "--trainer.max_epochs", "2", "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert resumed["global_step"] == straight["global_step"] == 8
    assert resumed["metrics"] == straight["metrics"]

    def fit_rows(name):
        rows = list(csv.DictReader((tmp_path / "09_llama" / name / "metrics.csv").open()))
        return [r for r in rows if not any(v for k, v in r.items() if k.startswith("test/"))]

    assert any(r["train/loss_llama"] for r in fit_rows("straight"))
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
        (["--model.d_model", "30", "--model.n_heads", "4"], "d_model"),
        (["--model.n_kv_heads", "3"], "n_kv_heads"),
        (["--model.variants", "[gpt2, gpt3]"], "model.variants"),
        (["--model.warmup_steps", "0"], "warmup_steps"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.text_file", "/no/such/file.txt"], "text file not found"),
        (["--model.vocab_size", "40", "--trainer.fast_dev_run", "1"], "vocab_size"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.root", str(tmp_path), *TINY, *args])
    # A setting only the data can check (vocab_size) fails after the run folder is announced.
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("run folder:")]
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("error:") and named in err[0], err


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.d_model", "--model.n_kv_heads", "--model.variants", "--data.text_file",
                    "--trainer.precision", "--ckpt_path", "--config"):
        assert setting in out
