"""The train entry point end to end: the shared suite (smoke run, resume mid-epoch and at an epoch's
end, refused resumes, one-line errors, --help, python -m) with this paper's settings."""

from rag.train import main
from shared.testing import TrainCLITests

STEPS = ["--data.n_train_entities", "8", "--data.n_test_entities", "4", "--data.batch_size", "8"]  # 4 steps an epoch


class TestTrainCLI(TrainCLITests):
    main = staticmethod(main)
    paper = "19_rag"
    tiny = [*STEPS, "--trainer.log_every_n_steps", "1", "--model.d_model", "16", "--model.d_ff", "32",
            "--model.n_layers", "1", "--model.d_retriever", "8", "--model.n_docs", "2"]
    resume_cases = {
        "mid_epoch": (["--trainer.max_steps", "10"], ["--trainer.max_steps", "6"]),
        "epoch_end": (["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"]),
    }
    changed_setting = ["--model.d_model", "8"]
    wrong_settings = [
        (["--model.lr", "0"], "model.lr"),
        (["--model.n_heads", "3"], "n_heads"),
        (["--model.marginalisation", "tokens"], "marginalisation"),
        (["--model.index", "lsh"], "model.index"),
        (["--model.n_docs", "100"], "n_docs"),
        (["--model.hiden", "8"], "hiden"),
        (["--data.batch_size", "0"], "batch_size"),
    ]
    help_settings = ("--model.marginalisation", "--model.index", "--model.n_docs", "--data.n_test_entities")
    script = ("rag.train", ["--model.lr", "-1"], "error: model.lr must be > 0, got -1.0")

    def check_smoke(self, results, run_dir):
        for key in ("test/em_rag", "test/em_closed_book", "test/swapped_em_rag", "test/recall_at_k"):
            assert 0.0 <= results["metrics"][key] <= 1.0, key
        assert set(results["claim"]) >= {"metric", "threshold", "value", "holds"}
        assert (run_dir / "figures" / "rag_vs_closed_book.png").is_file()
