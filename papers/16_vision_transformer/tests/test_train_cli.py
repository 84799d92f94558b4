"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch, refused resumes,
one-line errors, --help, python -m) with this paper's settings, plus a resume at an epoch's end and
the data/model mismatch found when training starts."""

from shared.testing import TrainCLITests, assert_resume_matches
from vision_transformer.lightning import CLAIM_THRESHOLD
from vision_transformer.train import main

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.d_ff", "32", "--model.n_layers", "1",
        "--model.cnn_width", "4", "--model.warmup_steps", "5",
        "--model.schedule_steps", "22", "--data.fractions", "[0.25, 1.0]",
        "--data.batch_size", "128", "--trainer.log_every_n_steps", "4"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "16_vision_transformer"
    tiny = TINY
    # 1,288 training digits in batches of 128: 11 steps an epoch (the last of 8 images), for every
    # fraction's loader. schedule_steps is fixed, so a shorter first session has the full run's schedule.
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "15"], ["--trainer.max_steps", "5"])}
    changed_setting = ["--model.d_model", "32"]
    wrong_settings = [
        (["--model.d_model", "30", "--model.n_heads", "4"], "d_model"),  # tiny's 2 heads would divide 30
        (["--model.patch_size", "3"], "patch_size"),
        (["--model.warmup_steps", "0"], "warmup_steps"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.fractions", "[0.0, 0.5]"], "data.fractions"),
        (["--data.dataset", "mnist"], "data.dataset"),
        (["--data.dataset", "cifar10", "--data.data_dir", "/nonexistent", "--model.image_size", "32",
          "--model.in_channels", "3", "--model.patch_size", "4"], "--data.download true"),
    ]
    help_settings = ("--model.patch_size", "--model.d_model", "--model.cnn_baseline", "--data.fractions",
                     "--data.dataset", "--data.download", "--run.logger")
    script = ("vision_transformer.train", ["--model.n_heads", "5"],
              "error: d_model (64) must be divisible by n_heads (5)")

    def check_smoke(self, results, run_dir):
        assert set(results["metrics"]) == {"test/loss", "test/accuracy", "test/vit_accuracy_frac_25",
                                           "test/vit_accuracy_frac_100", "test/cnn_accuracy_frac_25",
                                           "test/cnn_accuracy_frac_100"}
        assert results["claim"]["metric"] == "test/accuracy" and results["claim"]["threshold"] == CLAIM_THRESHOLD
        assert "cnn_lead_smallest_fraction" in results["claim"]
        for name in ("data_efficiency.png", "attention_rollout.png", "position_similarity.png"):
            assert (run_dir / "figures" / name).stat().st_size > 5_000, name

    def test_resume_at_epoch_end(self, cli):
        straight, resumed = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert resumed["global_step"] == straight["global_step"] == 22  # 2 epochs of ceil(1288 / 128) steps
        assert any(r["train/loss"] for r in cli.fit_rows("straight"))

    def test_data_and_model_mismatch_is_one_line_error(self, cli, capsys):
        # Found when training starts (the model meets the data in setup), with no traceback; the
        # error names both settings and leaves no run folder.
        err = cli.error(capsys, "--model.in_channels", "3")
        assert "in_channels" in err and "data.dataset" in err, err
        assert not (cli.root / self.paper).exists() or not any((cli.root / self.paper).iterdir())
