"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's
end, refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from dalle.train import main
from shared.testing import TrainCLITests

STEPS = ["--data.n_train", "64", "--data.n_test", "16", "--data.batch_size", "16"]  # 4 steps an epoch
TINY_MODEL = ["--model.n_codes", "8", "--model.d_hidden", "8", "--model.d_model", "16", "--model.n_heads", "2",
              "--model.n_layers", "1", "--model.dvae_steps", "5", "--model.kl_warmup_steps", "5",
              "--model.n_samples", "2", "--model.judge_steps", "3"]


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "17_dalle"
    tiny = [*STEPS, *TINY_MODEL, "--trainer.log_every_n_steps", "1", "--trainer.check_val_every_n_epoch", "1"]
    resume_cases = {  # the dVAE phase ends at step 5: both cases cross it, the mid-epoch one stops inside it
        "mid_epoch": (["--trainer.max_steps", "10"], ["--trainer.max_steps", "3"]),
        "epoch_end": (["--trainer.max_epochs", "3"], ["--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.n_codes", "16"]
    wrong_settings = [
        (["--model.lr", "0"], "model.lr"),
        (["--model.n_heads", "3"], "n_heads"),
        (["--model.tau_end", "2"], "tau_end"),
        (["--model.n_codez", "8"], "n_codez"),
        (["--data.batch_size", "0"], "batch_size"),
        (["--data.data_dir", "/nonexistent/folder"], "data_dir"),
    ]
    help_settings = ("--model.n_codes", "--model.kl_weight", "--model.n_samples", "--data.data_dir")
    script = ("dalle.train", ["--model.lr", "-1"], "error: model.lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        for key in ("test/match_rate", "test/reranked_match_rate", "test/match_rate_heldout", "test/recon_mse"):
            assert key in results["metrics"], key
        assert set(results["claim"]["checks"]) >= {"test/match_rate", "reranked - single match rate"}
        assert (run_dir / "figures" / "reconstructions.png").is_file()
        assert (run_dir / "figures" / "samples_reranked.png").is_file()
