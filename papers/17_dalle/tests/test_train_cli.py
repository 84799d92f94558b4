"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's
end, refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from dalle.train import main
from shared.testing import TrainCLITests

STEPS = ["--data.n_train", "64", "--data.n_test", "32", "--data.batch_size", "16"]  # 4 steps an epoch


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "17_dalle"
    tiny = [*STEPS, "--trainer.log_every_n_steps", "1"]
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "10"], ["--trainer.max_steps", "6"]),
        "epoch_end": (["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.hidden", "8"]
    wrong_settings = [
        (["--model.lr", "0"], "model.lr"),
        (["--model.hiden", "8"], "hiden"),
        (["--data.batch_size", "0"], "batch_size"),
    ]
    help_settings = ("--model.hidden", "--data.batch_size")
    script = ("dalle.train", ["--model.lr", "-1"], "error: model.lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        assert "test/accuracy" in results["metrics"]
        assert (run_dir / "results.json").is_file()
