"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's
end, refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from gpt4_analysis.train import main
from shared.testing import TrainCLITests

# Four tiny models (widths 4 to 16) with 2 to 6 steps each; 8 training batches an epoch
# (24 clean task lines + 12 text lines + 6 planted items x 4 copies = 60 lines, batch 8).
TINY = ["--model.d_models", "[4, 8, 12, 16]", "--model.steps", "[2, 3, 4, 6]", "--model.n_heads", "2",
        "--model.warmup_steps", "1", "--model.n_bootstrap", "50",
        "--data.n_train_per_suite", "4", "--data.n_text", "12", "--data.n_val_text", "8",
        "--data.n_eval_per_suite", "5", "--data.n_calibration", "20", "--data.lexicon_size", "30",
        "--data.leak_fraction", "0.2", "--data.batch_size", "8", "--trainer.log_every_n_steps", "1"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "15_gpt4_analysis"
    tiny = TINY
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "5"], ["--trainer.max_steps", "3"]),
        "epoch_end": (["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.d_models", "[4, 8, 12, 20]"]
    wrong_settings = [
        (["--model.lr", "0"], "model.lr"),
        (["--model.d_models", "[8, 4, 12, 16]"], "d_models"),
        (["--model.steps", "[2, 3]"], "steps"),
        (["--model.n_heads", "3"], "n_heads"),
        (["--model.lrr", "0.1"], "lrr"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.leak_fraction", "2"], "leak_fraction"),
        (["--data.zipf", "0"], "zipf"),
        (["--data.n_calibration", "5000"], "n_calibration"),
    ]
    help_settings = ("--model.d_models", "--model.steps", "--model.substring_len", "--model.compile",
                     "--data.leak_fraction", "--data.n_eval_per_suite", "--data.n_text", "--data.zipf")
    script = ("gpt4_analysis.train", ["--model.lr", "-1"], "error: model.lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        m = results["metrics"]
        for key in ("test/d4_loss", "test/d16_loss", "test/predicted_loss", "test/relative_error",
                    "test/contamination_recall", "test/d16_add_acc", "test/d16_add_lo", "test/d4_all_hi",
                    "test/ece_largest", "test/d16_acc_contaminated", "test/text_floor", "test/ece_answer_key"):
            assert key in m, key
        assert m["test/contamination_recall"] == 1.0  # the planted items are found even in a tiny run
        assert len(results["claim"]["checks"]) == 8
        for name in ("loss_prediction", "capability_profile", "calibration"):
            assert (run_dir / "figures" / f"{name}.png").stat().st_size > 10_000
