"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and across the
stage switch, refused resumes, one-line errors, --help, python -m) with this paper's settings, and
the pre-training to fine-tuning switch.

The runs here read a small text file (two plays) through `--data.text_file`, the same path a
user takes with their own corpus.
"""

import pytest
import torch
from bert.lightning import BertPretrainFinetune
from bert.train import main
from shared.data.text import load_shakespeare
from shared.testing import TrainCLI, TrainCLITests, assert_resume_matches

# Epoch 0 pre-trains on 128 pairs in batches of 32 (4 steps); later epochs fine-tune on 64 (2 steps).
TINY = ["--model.pretrain_epochs", "1", "--model.vocab_size", "300", "--data.vocab_size", "300",
        "--model.d_model", "16", "--model.n_heads", "2", "--model.d_ff", "32", "--model.n_layers", "1",
        "--model.max_positions", "24", "--data.max_len", "24", "--data.pretrain_size", "128",
        "--data.finetune_size", "64", "--data.val_size", "32", "--data.test_size", "32", "--data.batch_size", "32",
        "--data.finetune_batch_size", "32", "--data.downstream_fraction", "0.3", "--trainer.log_every_n_steps", "2"]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "two_plays.txt"
    path.write_text(load_shakespeare(("macbeth", "the-tempest")))
    return str(path)


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "02_bert"
    tiny = TINY
    # Stops after 2 of the 4 pre-training steps; the whole run ends inside the first fine-tuning epoch.
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "5"], ["--trainer.max_steps", "2"])}
    changed_setting = ["--model.d_ff", "48"]
    wrong_settings = [
        (["--model.d_model", "15"], "d_model"),
        (["--model.pretrain_epochs", "-1"], "pretrain_epochs"),
        (["--model.finetune_lr", "0"], "finetune_lr"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.vocab_size", "4"], "vocab_size"),
        (["--data.text_file", "/no/such/corpus.txt"], "/no/such/corpus.txt"),
        (["--model.vocab_size", "500"], "vocab_size"),
        (["--data.max_len", "100"], "max_len"),
    ]
    help_settings = ("--model.d_model", "--model.pretrain_epochs", "--model.finetune_lr", "--data.text_file",
                     "--data.finetune_size", "--run.logger")
    script = ("bert.train", ["--model.n_heads", "5"], "error: d_model (64) must be divisible by n_heads (5)")

    @pytest.fixture
    def cli(self, tmp_path, text_file):
        return TrainCLI(type(self).main, self.paper, tmp_path, [*self.tiny, "--data.text_file", text_file,
                                                               "--trainer.enable_progress_bar", "false",
                                                               "--trainer.enable_model_summary", "false"])

    def check_smoke(self, results, run_dir):
        assert {"test/accuracy_pretrained", "test/accuracy_random", "test/mlm_accuracy", "test/nsp_accuracy",
                "test/mlm_loss"} <= set(results["metrics"])
        assert results["claim"]["metric"] == "test/accuracy_pretrained - test/accuracy_random"

    def test_resume_across_the_stage_switch_matches_uninterrupted_run(self, cli):
        # Epoch 0 pre-trains, epoch 1 fine-tunes: the resumed run crosses the stage switch.
        straight, _ = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert straight["global_step"] == 4 + 2  # 128/32 pre-training + 64/32 fine-tuning
        assert any(r.get("train/loss_pretrained") for r in cli.fit_rows("straight"))
        assert (cli.run_dir("straight") / "figures" / "finetuning_curves.png").stat().st_size > 10_000

    def test_stage_switch_copies_the_encoder_and_leaves_the_random_baseline_alone(self, cli):
        cli.fit("--trainer.max_epochs", "1", "--run.name", "pre")
        last = cli.run_dir("pre") / "checkpoints" / "last.ckpt"
        state = torch.load(last, weights_only=False)["state_dict"]
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
        cli.fit("--trainer.max_epochs", "2", "--run.name", "pre", "--ckpt_path", "last")
        after = torch.load(last, weights_only=False)["state_dict"]
        # Two fine-tuning steps at a rate of at most 5e-4 (Adam moves each weight by about the rate) leave
        # the copied encoder within 2e-3 of the pre-trained one; the random encoder is nowhere near it.
        for key in ("embeddings.token.weight", "layers.0.attn.W_q.weight", "W_pool.weight"):
            copied = (after[f"pretrained.bert.{key}"] - state[f"pretrain.bert.{key}"]).abs().max()
            other = (after[f"random.bert.{key}"] - state[f"pretrain.bert.{key}"]).abs().max()
            assert copied < 2e-3 < 1e-2 < other, (key, copied, other)
