"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and after an epoch,
refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from scaling_laws.train import main
from shared.testing import TrainCLITests

# Two tiny models (widths 4 and 8), three training batches an epoch (12 windows of 8 characters).
# The schedule's length is a model setting (decay_steps), so a first session that stops early
# follows the same schedule as the whole run.
TINY = ["--model.d_models", "[4, 8]", "--model.n_heads", "2", "--model.n_ctx", "8", "--model.hold_out", "0",
        "--model.warmup_steps", "2", "--model.decay_steps", "6", "--data.plays", "[macbeth]", "--data.n_ctx", "8",
        "--data.batch_size", "4", "--data.n_test_windows", "8", "--data.n_train_windows", "12",
        "--trainer.log_every_n_steps", "1"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "07_scaling_laws"
    tiny = TINY
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "5"], ["--trainer.max_steps", "2"]),
        # The default config's max_steps stays set: the max_epochs stop of an iteration-based run
        # (shared LastCheckpoint saves it at the last batch; Lightning restored it wrongly otherwise).
        "epoch_end": (["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.d_models", "[4, 12]"]
    wrong_settings = [
        (["--model.lr", "0"], "model.lr"),
        (["--model.d_models", "[8, 4]"], "d_models"),
        (["--model.hold_out", "1"], "hold_out"),
        (["--model.n_heads", "3"], "n_heads"),
        (["--model.lrr", "0.1"], "lrr"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.n_train_windows", "0"], "n_train_windows"),
        (["--data.plays", "[hamlett]"], "hamlett"),
    ]
    help_settings = ("--model.d_models", "--model.hold_out", "--model.lr", "--model.compile", "--data.plays",
                     "--data.n_ctx", "--run.logger")
    script = ("scaling_laws.train", ["--model.lr", "-1"], "error: model.lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        m = results["metrics"]
        for key in ("test/d4_loss", "test/d8_loss", "test/d4_N", "test/alpha_N", "test/N_c", "test/r2_log",
                    "test/token_ratio", "test/paper_alpha_N"):
            assert key in m, key
        assert m["test/d4_N"] == 12 * 2 * 4**2 + 13 * 2 * 4 + 2 * 4  # exact N of a 2-layer, width-4 decoder
        assert set(results["claim"]["checks"]) == {
            "R^2 of the log-log fit", "decades of N fitted", "tokens to the smallest's final loss: smallest / largest",
            "largest model's held-out loss"}
        assert (run_dir / "figures" / "loss_vs_n.png").stat().st_size > 10_000
        assert (run_dir / "figures" / "learning_curves.png").stat().st_size > 10_000
