"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and after an epoch,
refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from resnet.train import main
from shared.testing import TrainCLITests, assert_resume_matches

# The digits' training split in batches of 256: 6 steps an epoch.
TINY = ["--model.depths", "[8,14]", "--model.widths", "[4,8,8]", "--data.batch_size", "256",
        "--trainer.log_every_n_steps", "2"]
NAMES = ["plain8", "resnet8", "plain14", "resnet14"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "11_resnet"
    tiny = TINY
    test_prefixes = ("test_error/", "train_error/")  # the final errors, measured after fit
    # Training loss and error are logged as epoch means (the degradation figure plots them per epoch):
    # a session stopped mid-epoch logs the mean of its part, so after a mid-epoch stop only the
    # results (final train/test errors of every net), step and epoch are compared; the epoch-end
    # case below compares metrics.csv too.
    epoch_mean_training_logs = True
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "9"], ["--trainer.max_steps", "3"])}
    changed_setting = ["--model.widths", "[4,8,16]"]
    wrong_settings = [
        (["--model.depths", "[8,15]"], "6n + 2"),
        (["--model.lr", "0"], "model.lr"),
        (["--model.dept", "[8,14]"], "dept"),
        (["--data.dataset", "mnist"], "dataset"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--model.in_channels", "3"], "error: model.in_channels is 3"),
    ]
    help_settings = ("--model.depths", "--model.shortcut", "--model.zero_init_residual", "--data.dataset",
                     "--data.download")
    script = ("resnet.train", ["--model.depths", "[20,21]"],
              "error: model: CIFAR-style depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110), got 21")

    def check_smoke(self, results, run_dir):
        assert set(results["metrics"]) == {f"{s}/{n}" for s in ("train_error", "test_error") for n in NAMES}
        assert set(results["claim"]["value"]) >= {"plain_gap", "residual_gap"}
        assert isinstance(results["claim"]["holds"], bool)

    def test_resume_after_a_whole_epoch_matches_uninterrupted_run(self, cli):
        straight, _ = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert straight["global_step"] == 12
        assert any(r["train/error_plain14"] for r in cli.fit_rows("straight"))
        assert (cli.run_dir("straight") / "figures" / "degradation.png").stat().st_size > 10_000

    def test_missing_cifar10_is_one_line_error(self, cli, capsys, tmp_path):
        line = cli.error(capsys, "--data.dataset", "cifar10", "--data.root", str(tmp_path / "nowhere"),
                         "--model.in_channels", "3")
        assert line.startswith("error: CIFAR-10 not found") and "--data.download" in line
