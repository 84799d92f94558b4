"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch, refused resumes,
one-line errors, --help, python -m) with this paper's settings, plus a resume at an epoch's end that
keeps the figure and the sample, the main model alone, and a context shorter than the windows."""

import pytest
from gpt2.lightning import CLAIM_TARGET
from gpt2.train import main
from shared.testing import TrainCLI, TrainCLITests, assert_resume_matches

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.small_d_model", "8",
        "--model.small_n_heads", "2", "--model.small_n_layers", "1", "--model.warmup_steps", "2",
        "--model.decay_steps", "8", "--model.sample_tokens", "20", "--data.block_size", "16", "--data.batch_size", "4",
        "--data.train_batches_per_epoch", "4", "--data.val_windows", "8", "--data.test_windows", "8",
        "--trainer.log_every_n_steps", "2"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "03_gpt2"
    tiny = TINY
    # 4 training batches an epoch (train_batches_per_epoch). decay_steps is fixed, so a first session
    # that stops early has the full run's learning-rate schedule.
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "6"], ["--trainer.max_steps", "2"])}
    changed_setting = ["--model.d_model", "32"]
    wrong_settings = [
        (["--model.d_model", "30", "--model.n_heads", "4"], "d_model"),  # tiny's 2 heads would divide 30
        (["--model.warmup_steps", "-1"], "warmup_steps"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--model.lr", "0"], "model.lr"),
        (["--trainer.max_epochs", "many"], "max_epochs"),
        (["--data.block_size", "0"], "block_size"),
        (["--data.text_file", "/no/such/file.txt"], "text file not found"),
    ]
    help_settings = ("--model.d_model", "--model.small_d_model", "--model.n_ctx", "--model.compile",
                     "--data.block_size", "--data.text_file", "--run.logger")
    script = ("gpt2.train", ["--model.n_heads", "5"], "error: d_model (128) must be divisible by n_heads (5)")

    @pytest.fixture
    def cli(self, tmp_path, small_corpus):
        return TrainCLI(type(self).main, self.paper, tmp_path,
                        [*self.tiny, "--data.text_file", str(small_corpus), "--trainer.enable_progress_bar", "false",
                         "--trainer.enable_model_summary", "false"])

    def check_smoke(self, results, run_dir):
        assert set(results["metrics"]) == {"test/loss", "test/loss_small"}
        assert results["claim"]["metric"] == "test/loss" and results["claim"]["threshold"] == CLAIM_TARGET
        assert "larger_is_better" in results["claim"] and "small_value" in results["claim"]
        sample = (run_dir / "sample.txt").read_text()
        assert sample.startswith("ROMEO:\n") and len(sample) == len("ROMEO:\n") + 20
        assert (run_dir / "tokenizer.json").is_file()

    def test_resume_at_epoch_end_keeps_figure_and_sample(self, cli):
        straight, resumed = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert resumed["global_step"] == straight["global_step"] == 8
        for name in ("straight", "resumed"):  # the figure keeps the first session's validation point
            assert (cli.run_dir(name) / "figures" / "val_loss_by_size.png").stat().st_size > 10_000
        sample = {name: (cli.run_dir(name) / "sample.txt").read_text() for name in ("straight", "resumed")}
        assert sample["resumed"] == sample["straight"]
        assert any(r["train/loss"] for r in cli.fit_rows("straight"))

    def test_main_model_alone_when_small_is_null(self, cli):
        cli.fit("--trainer.fast_dev_run", "1", "--run.name", "alone", "--model.small_d_model", "null")
        out = cli.results("alone")
        assert set(out["metrics"]) == {"test/loss"} and "larger_is_better" not in out["claim"]

    def test_context_shorter_than_block_size_is_one_line_error(self, cli, capsys):
        assert cli.error(capsys, "--model.n_ctx", "8") == "error: model.n_ctx (8) is smaller than data.block_size (16)"
