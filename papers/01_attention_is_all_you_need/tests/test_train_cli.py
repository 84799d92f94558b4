"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and after an epoch,
refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from attention_is_all_you_need.train import main
from shared.testing import TrainCLITests, assert_resume_matches

# 256 training pairs in batches of 32: 8 steps an epoch.
TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.d_ff", "32", "--model.n_layers", "1",
        "--model.warmup_steps", "20", "--data.train_size", "256", "--data.val_size", "32",
        "--data.test_size", "64", "--data.batch_size", "32", "--trainer.log_every_n_steps", "4"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "01_attention_is_all_you_need"
    tiny = TINY
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "12"], ["--trainer.max_steps", "5"])}
    changed_setting = ["--model.d_ff", "48"]
    wrong_settings = [
        (["--model.d_model", "30", "--model.n_heads", "4"], "d_model"),
        (["--model.warmup_steps", "0"], "warmup_steps"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--trainer.max_epochs", "many"], "max_epochs"),
        (["--run.logger", "mlflow"], "run.logger"),
        (["--data.batch_size", "0"], "batch_size"),
    ]
    help_settings = ("--model.d_model", "--model.warmup_steps", "--data.train_size", "--run.logger")
    script = ("attention_is_all_you_need.train", ["--model.n_heads", "5"],
              "error: d_model (64) must be divisible by n_heads (5)")

    def check_smoke(self, results, run_dir):
        assert set(results["metrics"]) == {"test/loss", "test/exact_match", "test/exact_match_beam"}
        assert results["claim"]["metric"] == "test/exact_match" and results["claim"]["threshold"] == 0.95
        assert (run_dir / "figures" / "cross_attention.png").stat().st_size > 10_000

    def test_resume_after_a_whole_epoch_matches_uninterrupted_run(self, cli):
        straight, _ = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert straight["global_step"] == 16
        assert any(r["train/loss"] for r in cli.fit_rows("straight"))
