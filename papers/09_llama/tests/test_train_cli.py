"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and after an epoch,
refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from llama.train import main
from shared.testing import TrainCLITests, assert_resume_matches

# 32 training windows in batches of 8: 4 steps an epoch. The cosine schedule is fixed at 8 steps
# (decay_steps), so a session stopped early by max_steps keeps the schedule of the whole run.
RUN_LENGTH_SCHEDULE = ["--model.decay_steps", "null"]  # the default config's: decay over the run's steps
TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.block_size", "16",
        "--model.variants", "[gpt2, llama]", "--model.warmup_steps", "2",
        "--model.decay_steps", "8", "--data.block_size", "16",
        "--data.batch_size", "8", "--data.train_windows", "32", "--data.val_windows", "8",
        "--data.test_windows", "8", "--trainer.log_every_n_steps", "2"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "09_llama"
    tiny = TINY
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "6"], ["--trainer.max_steps", "2"]),
        # Without decay_steps the schedule's length was trainer.estimated_stepping_batches, which
        # builds the training loader before a resumed run restores the loop: the loader restarted
        # its epoch and steps 3 and 4 saw batches 1 and 2 again. (The stop is inside the warmup, so
        # the first session's shorter run length does not change its rates.)
        "mid_epoch_run_length_schedule": ([*RUN_LENGTH_SCHEDULE, "--trainer.max_steps", "6"],
                                          [*RUN_LENGTH_SCHEDULE, "--trainer.max_steps", "2"]),
    }
    changed_setting = ["--model.n_layers", "2"]
    wrong_settings = [
        (["--model.d_model", "30", "--model.n_heads", "4"], "d_model"),
        (["--model.n_kv_heads", "3"], "n_kv_heads"),
        (["--model.variants", "[gpt2, gpt3]"], "model.variants"),
        (["--model.warmup_steps", "0"], "warmup_steps"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.text_file", "/no/such/file.txt"], "text file not found"),
        (["--model.vocab_size", "40", "--trainer.fast_dev_run", "1"], "vocab_size"),
    ]
    help_settings = ("--model.d_model", "--model.n_kv_heads", "--model.variants", "--data.text_file")
    script = ("llama.train", ["--model.n_heads", "5"], "error: d_model (64) must be divisible by n_heads (5)")

    def check_smoke(self, results, run_dir):
        assert set(results["metrics"]) == {"test/loss_gpt2", "test/loss_llama"}
        assert results["claim"]["metric"] == "test/loss_gpt2 - test/loss_llama"
        assert (run_dir / "figures" / "ablation.png").stat().st_size > 10_000
        assert (run_dir / "sample.txt").read_text().startswith("ROMEO:\n")

    def test_resume_after_a_whole_epoch_matches_uninterrupted_run(self, cli):
        straight, _ = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert straight["global_step"] == 8
        assert any(r["train/loss_llama"] for r in cli.fit_rows("straight"))
