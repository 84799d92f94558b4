"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's end,
refused resumes, one-line errors, --help, python -m) with this paper's settings, plus the larger model alone."""

from gpt3.lightning import SHOTS
from gpt3.train import main
from shared.testing import TrainCLITests, assert_resume_matches

# 64 training sequences in batches of 16: 4 steps an epoch; tiny models; validation every 2 steps. decay_steps
# is fixed, so a first session that stops early has the whole run's learning-rate schedule.
TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "2", "--model.small_d_model", "8",
        "--model.small_n_heads", "2", "--model.small_n_layers", "1", "--model.warmup_steps", "2",
        "--model.decay_steps", "8",
        "--data.n_train", "64", "--data.n_val", "16", "--data.n_test", "32", "--data.batch_size", "16",
        "--data.n_demos", "16", "--trainer.log_every_n_steps", "1", "--trainer.val_check_interval", "2"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "05_gpt3"
    tiny = TINY
    # Mid-epoch here; the stop at an epoch's end is test_resume_at_epoch_end_keeps_the_learning_curve below.
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "6", "--trainer.max_epochs", "2"],
                      ["--trainer.max_steps", "3", "--trainer.max_epochs", "2"]),
    }
    changed_setting = ["--model.d_model", "32"]
    wrong_settings = [
        (["--model.d_model", "30", "--model.n_heads", "4"], "d_model"),
        (["--model.attention_types", "[dense,strided]"], "attention_types"),
        (["--model.attn_impl", "xformers"], "attn_impl"),
        (["--model.band", "0"], "band"),
        (["--model.lr", "0"], "model.lr"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.noise", "1.5"], "data.noise"),
        (["--data.batch_size", "0"], "batch_size"),
    ]
    help_settings = ("--model.d_model", "--model.small_d_model", "--model.attention_types", "--model.band",
                     "--model.attn_impl", "--model.compile", "--data.noise", "--data.n_demos")
    script = ("gpt3.train", ["--model.n_heads", "5"], "error: model: d_model (64) must be divisible by n_heads (5)")

    def check_smoke(self, results, run_dir):
        m = results["metrics"]
        for k in SHOTS:
            assert {f"test/acc_{k}shot", f"test/acc_{k}shot_small", f"test/ideal_{k}shot"} <= set(m)
        assert m["test/chance"] == 0.125 and m["test/ideal_0shot"] == 0.125
        assert set(results["claim"]) >= {"holds", "rises_with_k", "zero_shot_near_chance", "small_value"}
        assert (run_dir / "figures" / "accuracy_vs_shots.png").stat().st_size > 10_000

    def test_resume_at_epoch_end_keeps_the_learning_curve(self, cli):
        straight, resumed = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert resumed["global_step"] == straight["global_step"] == 8
        assert any(r["val/acc_16shot_small"] for r in cli.fit_rows("resumed"))
        for name in ("straight", "resumed"):  # the figure's right panel keeps the first session's points
            assert (cli.run_dir(name) / "figures" / "accuracy_vs_shots.png").stat().st_size > 10_000

    def test_larger_model_alone_when_small_is_null(self, cli):
        cli.fit("--trainer.fast_dev_run", "1", "--run.name", "alone", "--model.small_d_model", "null")
        out = cli.results("alone")
        assert "test/acc_16shot" in out["metrics"] and "test/acc_16shot_small" not in out["metrics"]
        assert "small_value" not in out["claim"]
