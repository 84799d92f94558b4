"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and across the
stage switch, refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from lora.train import main
from shared.testing import TrainCLITests, assert_resume_matches

# One epoch is one pass over 64 adaptation windows in batches of 16: 4 steps. Epoch 1 pre-trains,
# epoch 2 adapts.
TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.d_ff", "32", "--model.n_layers", "1",
        "--model.n_positions", "16", "--model.pretrain_epochs", "1", "--model.adapt_epochs", "1",
        "--model.warmup_steps", "2", "--model.sweep_ranks", "[1, 8]", "--data.block_size", "16",
        "--data.batch_size", "16", "--data.n_adapt", "64", "--data.n_val", "16", "--data.n_test", "16",
        "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1"]
VARIANTS = ("frozen", "full", "head", "lora", "lora_r1", "lora_r8")


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "08_lora"
    tiny = TINY
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "6"], ["--trainer.max_steps", "3"])}
    changed_setting = ["--model.r", "3"]
    wrong_settings = [
        (["--model.n_heads", "3"], "n_heads"),
        (["--model.r", "0"], "model.r"),
        (["--model.alpha", "0"], "model.alpha"),
        (["--model.lora_lr", "-1"], "model.lora_lr"),
        (["--model.targets", "[W_q, W_x]"], "model.targets"),
        (["--model.sweep_ranks", "[0]"], "sweep_ranks"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.domain", "klingon"], "data.domain"),
        (["--trainer.max_epochs", "5"], "trainer.max_epochs"),
        (["--data.block_size", "32"], "model.n_positions"),
    ]
    help_settings = ("--model.r", "--model.alpha", "--model.targets", "--model.sweep_ranks", "--model.lora_lr",
                     "--data.domain", "--data.n_adapt")
    script = ("lora.train", ["--model.n_heads", "5"], "error: d_model (64) must be divisible by n_heads (5)")

    def check_smoke(self, results, run_dir):
        metrics = results["metrics"]
        assert {f"test/new_loss_{v}" for v in VARIANTS} <= set(metrics)
        assert metrics["test/size_ratio"] > 1
        assert set(results["claim"]["value"]) == {"recovered", "lora_minus_full", "frozen_minus_lora", "size_ratio"}
        assert (run_dir / "adapters" / "lora_adapter.pt").is_file()

    def test_resume_across_the_stage_switch_matches_uninterrupted_run(self, cli):
        # Stop after stage 1 and resume into stage 2: the weight hand-over must happen exactly once.
        straight, _ = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert straight["global_step"] == 8
        assert (cli.run_dir("straight") / "figures" / "rank_sweep.png").stat().st_size > 5_000
        assert (cli.run_dir("straight") / "figures" / "subspace_similarity.png").stat().st_size > 5_000
