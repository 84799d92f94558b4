"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch, refused resumes,
one-line errors, --help, python -m) with this paper's settings, plus a resume at an epoch's end that
keeps the validation figure."""

import pytest
from palm.train import main
from shared.data.text import load_shakespeare
from shared.testing import TrainCLI, TrainCLITests, assert_resume_matches

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.sample_chars", "20",
        "--data.plays", "[macbeth]", "--data.seq_len", "32", "--data.batch_size", "8", "--data.val_windows", "4",
        "--data.test_windows", "8", "--trainer.val_check_interval", "2", "--trainer.log_every_n_steps", "1"]
# Epoch-based (the default config counts max_steps instead), validating at every epoch's end.
EPOCHS = ["--trainer.val_check_interval", "1.0", "--trainer.check_val_every_n_epoch", "1",
          "--trainer.max_steps", "-1"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "14_palm"
    tiny = TINY
    # The corpus (see `cli`) has 900 training characters: 28 windows of 32, so an epoch is 4 steps
    # of batch 8 (the last one 4 windows). The mid-epoch run stops after step 3 of the first epoch
    # and goes on to step 3 of the second; validation every 2 steps falls on both sides of the stop.
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "7"], ["--trainer.max_steps", "3"])}
    changed_setting = ["--model.d_model", "32"]
    wrong_settings = [
        (["--model.n_heads", "5"], "n_heads"),
        (["--model.blocks", "[sideways]"], "model.blocks"),
        (["--model.lr", "0"], "model.lr"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.seq_len", "0"], "seq_len"),
        (["--data.text_file", "/nonexistent/corpus.txt"], "text file not found"),
        # Windows longer than the model's positions (the corpus's 50-character validation split holds
        # one window of 41, so the error comes from the model, at the first forward pass).
        (["--data.seq_len", "40", "--model.max_len", "32"], "exceeds max_len"),
    ]
    help_settings = ("--model.blocks", "--model.multi_query", "--model.z_loss", "--data.plays", "--data.text_file",
                     "--trainer.strategy")
    script = ("palm.train", ["--model.n_heads", "5"], "error: d_model (96) must be divisible by n_heads (5)")

    @pytest.fixture
    def cli(self, tmp_path):
        # A 1,000-character corpus: 900 characters for training, 50 for validation, 50 for test.
        corpus = tmp_path / "corpus.txt"
        corpus.write_text(load_shakespeare(("macbeth",))[:1000])
        return TrainCLI(type(self).main, self.paper, tmp_path,
                        [*self.tiny, "--data.text_file", str(corpus), "--trainer.enable_progress_bar", "false",
                         "--trainer.enable_model_summary", "false"])

    def check_smoke(self, results, run_dir):
        assert set(results["metrics"]) == {"test/loss_parallel", "test/loss_serial", "test/relative_gap"}
        assert results["claim"]["metric"] == "test/relative_gap" and results["claim"]["threshold"] == 0.03
        samples = (run_dir / "samples.txt").read_text()
        assert "--- parallel block ---" in samples and "--- serial block ---" in samples

    def test_resume_at_epoch_end_keeps_figure_and_rows(self, cli):
        straight, resumed = assert_resume_matches(cli, [*EPOCHS, "--trainer.max_epochs", "2"],
                                                  [*EPOCHS, "--trainer.max_epochs", "1"])
        assert straight["global_step"] == resumed["global_step"] == 8
        assert (cli.run_dir("resumed") / "figures" / "val_loss.png").stat().st_size > 10_000
        assert any(r["train/loss_parallel"] for r in cli.fit_rows("straight"))
