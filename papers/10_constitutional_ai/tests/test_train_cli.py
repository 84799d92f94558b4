"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's
end, refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from constitutional_ai.train import main
from shared.testing import TrainCLITests

STEPS = ["--data.n_train", "64", "--data.n_test", "16", "--data.batch_size", "16"]  # 4 steps an epoch
# Every phase two steps long, so a 10-step run passes through pretraining, SL-CAI, preference models and RL.
PHASES = ["--model.pretrain_steps", "2", "--model.sl_steps", "2", "--model.pm_steps", "2", "--model.rl_steps", "2",
          "--model.n_snapshots", "2", "--model.eval_samples", "1"]
TINY = ["--model.d_model", "8", "--model.n_heads", "2", "--model.d_ff", "16", "--model.n_layers", "1"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "10_constitutional_ai"
    tiny = [*STEPS, *PHASES, *TINY, "--trainer.log_every_n_steps", "1"]
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "10"], ["--trainer.max_steps", "6"]),
        "epoch_end": (["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.d_model", "16"]
    wrong_settings = [
        (["--model.lr", "0"], "model.lr"),
        (["--model.n_heads", "3"], "n_heads"),
        (["--model.beta", "-1"], "model.beta"),
        (["--model.hiden", "8"], "hiden"),
        (["--data.batch_size", "0"], "batch_size"),
    ]
    help_settings = ("--model.d_model", "--model.beta", "--model.n_revisions", "--data.batch_size")
    script = ("constitutional_ai.train", ["--model.lr", "-1"], "error: model.lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        for model in ("helpful", "sl_cai", "rl_helpful", "rl_cai"):
            assert f"test/{model}_harmless" in results["metrics"]
            assert f"test/{model}_helpful" in results["metrics"]
        assert "checks" in results["claim"]
        assert (run_dir / "figures" / "harmless_vs_helpful.png").is_file()
