"""The train entry point end to end: smoke run, resume, the real-data path, and one-line errors.

The runs here read a small text file (two plays) through `--data.text_file`, the same path a
user takes with their own corpus.
"""

import csv
import json
import subprocess
import sys

import pytest
import torch
from bert.lightning import BertPretrainFinetune
from bert.train import main
from shared.data.text import load_shakespeare

TINY = ["--model.pretrain_epochs", "1", "--model.vocab_size", "300", "--data.vocab_size", "300",
        "--model.d_model", "16", "--model.n_heads", "2", "--model.d_ff", "32", "--model.n_layers", "1",
        "--model.max_positions", "24", "--data.max_len", "24", "--data.pretrain_size", "128",
        "--data.finetune_size", "64", "--data.val_size", "32", "--data.test_size", "32", "--data.batch_size", "32",
        "--data.finetune_batch_size", "32", "--data.downstream_fraction", "0.3", "--trainer.enable_progress_bar",
        "false", "--trainer.enable_model_summary", "false", "--trainer.log_every_n_steps", "2"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "two_plays.txt"
    path.write_text(load_shakespeare(("macbeth", "the-tempest")))
    return str(path)


def fit(tmp_path, text_file, *extra):
    main(["fit", "--run.root", str(tmp_path), "--data.text_file", text_file, *TINY, *extra])


def results(tmp_path, name):
    return json.loads((tmp_path / "02_bert" / name / "results.json").read_text())


def test_fast_dev_run_end_to_end(tmp_path, text_file):
    fit(tmp_path, text_file, "--trainer.fast_dev_run", "2", "--run.name", "smoke")
    out = results(tmp_path, "smoke")
    assert {"test/accuracy_pretrained", "test/accuracy_random", "test/mlm_accuracy", "test/nsp_accuracy",
            "test/mlm_loss"} <= set(out["metrics"])
    assert out["claim"]["metric"] == "test/accuracy_pretrained - test/accuracy_random"


def test_resume_from_last_checkpoint_matches_uninterrupted_run(tmp_path, text_file):
    # Epoch 0 pre-trains, epoch 1 fine-tunes: the resumed run crosses the stage switch.
    fit(tmp_path, text_file, "--trainer.max_epochs", "2", "--run.name", "straight")
    fit(tmp_path, text_file, "--trainer.max_epochs", "1", "--run.name", "resumed")
    fit(tmp_path, text_file, "--trainer.max_epochs", "2", "--run.name", "resumed", "--ckpt_path", "last")
    straight, resumed = results(tmp_path, "straight"), results(tmp_path, "resumed")
    assert resumed["global_step"] == straight["global_step"] == 4 + 2  # 128/32 pre-training + 64/32 fine-tuning
    assert resumed["metrics"] == straight["metrics"]

    def fit_rows(name):
        rows = list(csv.DictReader((tmp_path / "02_bert" / name / "metrics.csv").open()))
        return [r for r in rows if not any(v for k, v in r.items() if k.startswith("test/"))]

    assert any(r.get("train/loss_pretrained") for r in fit_rows("straight"))
    assert fit_rows("resumed") == fit_rows("straight")
    assert (tmp_path / "02_bert" / "straight" / "figures" / "finetuning_curves.png").stat().st_size > 10_000


def test_stage_switch_copies_the_encoder_and_leaves_the_random_baseline_alone(tmp_path, text_file):
    fit(tmp_path, text_file, "--trainer.max_epochs", "1", "--run.name", "pre")
    state = torch.load(tmp_path / "02_bert" / "pre" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    torch.manual_seed(0)
    fresh = BertPretrainFinetune(vocab_size=300, d_model=16, n_heads=2, d_ff=32, n_layers=1,
                                 max_positions=24).state_dict()
    # After pre-training only, neither classifier has moved from its initialisation ...
    for key, value in fresh.items():
        if key.startswith(("pretrained.", "random.")):
            torch.testing.assert_close(state[key], value, msg=key)
    # ... while the pre-training model has.
    key = "pretrain.bert.layers.0.ffn.W_1.weight"
    assert not torch.equal(state[key], fresh[key])
    fit(tmp_path, text_file, "--trainer.max_epochs", "2", "--run.name", "pre", "--ckpt_path", "last")
    after = torch.load(tmp_path / "02_bert" / "pre" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    # Two fine-tuning steps at a rate of at most 5e-4 (Adam moves each weight by about the rate) leave
    # the copied encoder within 2e-3 of the pre-trained one; the random encoder is nowhere near it.
    for key in ("embeddings.token.weight", "layers.0.attn.W_q.weight", "W_pool.weight"):
        copied = (after[f"pretrained.bert.{key}"] - state[f"pretrain.bert.{key}"]).abs().max()
        other = (after[f"random.bert.{key}"] - state[f"pretrain.bert.{key}"]).abs().max()
        assert copied < 2e-3 < 1e-2 < other, (key, copied, other)


def test_ckpt_path_last_without_earlier_run_is_one_line_error(tmp_path, text_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, text_file, "--ckpt_path", "last")
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("error:") and "last.ckpt" in err and "\n" not in err


@pytest.mark.parametrize(
    "args, named",
    [
        (["--model.d_model", "15"], "d_model"),
        (["--model.pretrain_epochs", "-1"], "pretrain_epochs"),
        (["--model.finetune_lr", "0"], "finetune_lr"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.vocab_size", "4"], "vocab_size"),
        (["--data.text_file", "/no/such/corpus.txt"], "/no/such/corpus.txt"),
        (["--model.vocab_size", "500"], "vocab_size"),
        (["--data.max_len", "100"], "max_len"),
    ],
)
def test_wrong_setting_is_one_line_error_naming_it(tmp_path, text_file, capsys, args, named):
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, text_file, *args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    # Settings checked against each other (model vs data) fail once the run has started, after its
    # "run folder:" line; the error itself is still one line, and the last.
    assert all(line.startswith(("error:", "run folder:")) for line in err), err
    assert err[-1].startswith("error:") and named in err[-1] and sum(line.startswith("error:") for line in err) == 1


def test_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for setting in ("--model.d_model", "--model.pretrain_epochs", "--model.finetune_lr", "--data.text_file",
                    "--data.finetune_size", "--run.logger", "--trainer.precision", "--ckpt_path", "--config"):
        assert setting in out


def test_module_runs_as_a_script():
    proc = subprocess.run([sys.executable, "-m", "bert.train", "fit", "--model.n_heads", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: d_model (64) must be divisible by n_heads (5)"
