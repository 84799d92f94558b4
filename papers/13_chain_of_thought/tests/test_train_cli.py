"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's
end, refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from chain_of_thought.train import main
from shared.testing import TrainCLITests

# 64 documents in batches of 16: 4 steps an epoch; a tiny decoder; 3 test problems per step count (3 one-step facts),
# so the whole test set is one batch.
# decay_steps is fixed, so a first session that stops early has the whole run's learning-rate schedule.
TINY = ["--data.n_train", "64", "--data.n_val", "16", "--data.n_test", "3", "--data.batch_size", "16",
        "--data.max_steps", "3", "--data.n_shots", "2", "--data.n_facts", "3", "--model.d_model", "16",
        "--model.n_heads", "2",
        "--model.n_layers", "1", "--model.warmup_steps", "2", "--model.decay_steps", "8", "--model.n_samples", "3",
        "--trainer.log_every_n_steps", "1", "--trainer.val_check_interval", "2"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "13_chain_of_thought"
    tiny = TINY
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "6", "--trainer.max_epochs", "2"],
                      ["--trainer.max_steps", "3", "--trainer.max_epochs", "2"]),
        "epoch_end": (["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.d_model", "32"]
    wrong_settings = [
        (["--model.d_model", "30", "--model.n_heads", "4"], "d_model"),
        (["--model.lr", "0"], "model.lr"),
        (["--model.temperature", "0"], "model.temperature"),
        (["--model.n_samples", "0"], "model.n_samples"),
        (["--model.d_modle", "64"], "d_modle"),
        (["--data.max_steps", "11"], "data.max_steps"),
        (["--data.batch_size", "0"], "batch_size"),
    ]
    help_settings = ("--model.d_model", "--model.n_samples", "--model.temperature", "--data.max_steps",
                     "--data.n_shots", "--data.batch_size")
    script = ("chain_of_thought.train", ["--model.n_heads", "5"],
              "error: model: d_model (64) must be divisible by n_heads (5)")

    def check_smoke(self, results, run_dir):
        m = results["metrics"]
        for kind in ("cot", "direct", "free", "sc", "sample", "sc_cot"):
            assert {f"test/{kind}_{k}step" for k in (1, 2, 3)} | {f"test/{kind}_multi"} <= set(m)
        assert {"test/follows_cot", "test/follows_direct", "test/free_skipped_multi", "test/sample_skipped_multi",
                "test/sample_full_route_acc_multi", "test/sample_skip_route_acc_multi",
                "test/sc_gain_se_multi"} <= set(m)
        assert set(results["claim"]) >= {"holds", "cot_far_above_direct", "gap_grows_with_steps",
                                         "self_consistency_beats_greedy", "vote_beats_one_sample"}
        assert (run_dir / "figures" / "accuracy_vs_steps.png").stat().st_size > 10_000
