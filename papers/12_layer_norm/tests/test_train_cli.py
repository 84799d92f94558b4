"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and after an epoch,
refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from layer_norm.train import main
from shared.testing import TrainCLITests, assert_resume_matches

# Three training batches an epoch (limit_train_batches). Every batch steps 18 optimizers (one per
# model: the none / batch / layer variants of each experiment), and Lightning's global_step counts
# optimizer steps: 54 an epoch, so max_steps 36 stops after the second batch of the first epoch.
TINY = ["--model.rnn_d_model", "16", "--model.d_embed", "8", "--model.mlp_d_model", "16",
        "--data.plays", "[macbeth]", "--data.seq_len", "8", "--data.text_batch_size", "8",
        "--data.digits_batch_size", "4", "--data.n_val_windows", "16", "--trainer.limit_train_batches", "3",
        "--trainer.log_every_n_steps", "1"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "12_layer_norm"
    tiny = TINY
    smoke = ["--trainer.fast_dev_run", "1"]
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "90"], ["--trainer.max_steps", "36"])}
    changed_setting = ["--model.rnn_d_model", "8"]
    wrong_settings = [
        (["--trainer.fast_dev_run", "1", "--model.lr", "0"], "model.lr"),
        (["--trainer.fast_dev_run", "1", "--model.rnn_d_model", "0"], "d_model"),
        (["--trainer.fast_dev_run", "1", "--model.lrr", "0.1"], "lrr"),
        (["--trainer.fast_dev_run", "1", "--data.seq_len", "0"], "seq_len"),
        (["--trainer.fast_dev_run", "1", "--data.plays", "[hamlett]"], "hamlett"),
        (["--trainer.fast_dev_run", "1", "--trainer.max_epochs", "many"], "max_epochs"),
    ]
    help_settings = ("--model.lr", "--model.rnn_d_model", "--model.compile", "--data.plays", "--data.seq_len",
                     "--run.logger")
    script = ("layer_norm.train", ["--model.lr", "-1"], "error: model.lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        for name in ("rnn_none", "rnn_batch", "rnn_layer"):
            assert f"test/{name}_loss" in results["metrics"]
            assert f"test/{name}_mean_train_loss" in results["metrics"]
        for name in ("mlp_layer", "mlp1_batch", "mlp1_layer"):
            assert f"test/{name}_accuracy" in results["metrics"]
        assert results["metrics"]["test/table1_agreement"] == 1.0
        assert set(results["claim"]["checks"]) == {
            "rnn: none - layer mean train loss", "mlp: none - layer mean train loss",
            "batch 1: layer test accuracy", "batch 1: batch-norm mean train loss", "table 1 agreement"}
        assert (run_dir / "figures" / "learning_curves.png").stat().st_size > 10_000
        assert (run_dir / "figures" / "batch_size_one.png").stat().st_size > 10_000

    def test_resume_after_a_whole_epoch_matches_uninterrupted_run(self, cli):
        # Every model's held-out numbers and its whole training-loss history (kept in the checkpoint).
        straight, _ = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
        assert straight["global_step"] == 2 * 54
