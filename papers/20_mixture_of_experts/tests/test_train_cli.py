"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and after an epoch,
refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from mixture_of_experts.train import main
from shared.testing import TrainCLITests

# 32 training windows in batches of 8: 4 steps an epoch, three tiny models side by side.
TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.block_size", "16",
        "--model.d_ff", "16", "--model.n_experts", "4", "--data.block_size", "16", "--data.batch_size", "8",
        "--data.train_windows", "32", "--data.val_windows", "8", "--data.test_windows", "8",
        "--trainer.log_every_n_steps", "1"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "20_mixture_of_experts"
    tiny = TINY
    resume_cases = {
        # The gating noise is drawn from (noise_seed, step), so the resumed steps draw the same noise; the
        # load history (checkpointed) feeds test/train_max_load_*, so it is compared too. One case only:
        # each resume case costs about 30 s of CPU time for the three models.
        "mid_epoch": (["--trainer.max_steps", "6"], ["--trainer.max_steps", "2"]),
    }
    changed_setting = ["--model.n_experts", "8"]
    wrong_settings = [
        (["--model.top_k", "5"], "top_k"),
        (["--model.capacity_factor", "0"], "capacity_factor"),
        (["--model.d_model", "30", "--model.n_heads", "4"], "d_model"),
        (["--model.variants", "[dense, sparse]"], "model.variants"),
        (["--model.w_load", "-1"], "w_load"),
        (["--model.lr", "0"], "model.lr"),
        (["--model.n_expertz", "4"], "n_expertz"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--model.vocab_size", "40", "--trainer.fast_dev_run", "1"], "vocab_size"),
    ]
    help_settings = ("--model.n_experts", "--model.top_k", "--model.capacity_factor", "--model.w_importance",
                     "--model.w_load", "--model.variants", "--data.text_file")
    script = ("mixture_of_experts.train", ["--model.top_k", "9"],
              "error: model.top_k (9) must be <= model.n_experts (8)")

    def check_smoke(self, results, run_dir):
        metrics = results["metrics"]
        for name in ("dense", "moe", "moe_unbalanced"):
            assert f"test/loss_{name}" in metrics
        for name in ("moe", "moe_unbalanced"):
            assert 1.0 <= metrics[f"test/max_load_{name}"] <= 4 / 2  # 4 experts, top-2: at most twice the mean
            assert 1.0 <= metrics[f"test/train_max_load_{name}"] <= 4 / 2
            assert 0.0 <= metrics[f"test/dropped_{name}"] < 1.0
        assert set(results["claim"]["checks"]) == {"dense - moe test loss", "moe_unbalanced max/mean training load",
                                                   "moe max/mean training load"}
        assert (run_dir / "figures" / "expert_load.png").stat().st_size > 10_000
