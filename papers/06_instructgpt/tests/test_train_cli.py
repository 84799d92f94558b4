"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's
end, refused resumes, one-line errors, --help, python -m) with this paper's settings.

The tiny run is 2 SFT steps, 2 reward-model steps, then PPO: the mid-epoch resume stops at step 6,
in the middle of a PPO rollout that is reused for 4 steps, so the rollout must come back from the
checkpoint for the resumed run to match."""

from instructgpt.train import main
from shared.testing import TrainCLITests

# 4 steps an epoch
STEPS = ["--data.n_train", "64", "--data.n_val", "16", "--data.n_test", "16", "--data.batch_size", "16"]
TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.sft_steps", "2",
        "--model.rm_steps", "2", "--trainer.val_check_interval", "3"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "06_instructgpt"
    tiny = [*STEPS, *TINY, "--trainer.log_every_n_steps", "1"]
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "10"], ["--trainer.max_steps", "6"]),
        "epoch_end": (["--trainer.max_steps", "-1", "--trainer.max_epochs", "2"],
                      ["--trainer.max_steps", "-1", "--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.beta", "0.5"]
    wrong_settings = [
        (["--model.ppo_lr", "0"], "model.ppo_lr"),
        (["--model.n_heads", "3"], "n_heads"),
        (["--model.k_responses", "1"], "model.k_responses"),
        (["--model.clip_eps", "1.5"], "model.clip_eps"),
        (["--model.betta", "0.1"], "betta"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.p_repeat", "2"], "data.p_repeat"),
    ]
    help_settings = ("--model.beta", "--model.ptx_coef", "--model.k_responses", "--data.p_repeat")
    script = ("instructgpt.train", ["--model.sft_lr", "-1"], "error: model.sft_lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        for key in ("rm_accuracy", "win_rate", "kl", "reward", "reward_sft", "correct", "concise"):
            assert f"test/{key}" in results["metrics"], key
        assert set(results["claim"]["checks"]) and isinstance(results["claim"]["holds"], bool)
        assert (run_dir / "results.json").is_file()
