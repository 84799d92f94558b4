"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's
end, refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from diffusion_models.train import main
from shared.testing import TrainCLITests

# Batches of 256 of the 1,437 training digits: 6 steps an epoch. Tiny nets and a tiny sampling pass.
TINY = ["--data.batch_size", "256", "--model.channels", "8", "--model.groups", "4", "--model.n_heads", "2",
        "--model.guidance_scales", "[0.0, 2.0]", "--model.samples_per_class", "2", "--model.ddim_steps", "2",
        "--model.ancestral_steps", "2", "--trainer.log_every_n_steps", "1", "--trainer.check_val_every_n_epoch", "1"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "18_diffusion_models"
    tiny = TINY
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "9"], ["--trainer.max_steps", "4"]),
        "epoch_end": (["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.channels", "16"]
    wrong_settings = [
        (["--model.lr", "0"], "model.lr"),
        (["--model.schedule", "quadratic"], "model.schedule"),
        (["--model.channels", "10"], "model.channels"),  # not divisible by the tiny config's 4 groups
        (["--model.guidance_scales", "[2.0, 1.0]"], "model.guidance_scales"),
        (["--model.ddim_steps", "0"], "model.ddim_steps"),
        (["--model.chanels", "8"], "chanels"),
        (["--data.batch_size", "0"], "batch_size"),
    ]
    help_settings = ("--model.channels", "--model.schedule", "--model.guidance_scales", "--model.ddim_steps",
                     "--data.batch_size")
    script = ("diffusion_models.train", ["--model.lr", "-1"], "error: model.lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        m = results["metrics"]
        assert {"test/loss_simple", "test/judge_accuracy", "test/fidelity_s0", "test/fidelity_s2",
                "test/diversity_s2", "test/ancestral_fidelity"} <= set(m)
        assert isinstance(results["claim"]["holds"], bool)
        for name in ("guided_samples.png", "fidelity_diversity.png", "ancestral_samples.png"):
            assert (run_dir / "figures" / name).stat().st_size > 5_000
