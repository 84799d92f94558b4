"""shared.cli on a toy model: run folder layout, results.json, resume lookup and one-line errors."""

import json

import lightning as L
import pytest
import torch
from shared.cli import resolve_threads, run_cli
from shared.data import EpochSeededSampler, ResumableDataLoader
from shared.testing import TrainCLI, TrainCLITests, assert_resume_matches, files_snapshot
from torch.utils.data import DataLoader, TensorDataset


class Toy(L.LightningModule):
    def __init__(self, width: int = 4, lr: float = 0.1) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"model.width must be >= 1, got {width}")
        self.net = torch.nn.Sequential(torch.nn.Linear(2, width), torch.nn.Linear(width, 1))
        self.lr = lr

    def _loss(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def training_step(self, batch, _):
        loss = self._loss(batch)
        self.log("train/loss", loss)
        return loss

    def test_step(self, batch, _):
        self.log("test/loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    @staticmethod
    def claim(metrics):
        return {"holds": metrics["test/loss"] < 100}


class ToyData(L.LightningDataModule):
    def __init__(self, n: int = 32) -> None:
        super().__init__()
        self.n = n

    def _loader(self):
        g = torch.Generator().manual_seed(0)
        return DataLoader(TensorDataset(torch.randn(self.n, 2, generator=g), torch.randn(self.n, 1, generator=g)),
                          batch_size=8)

    def train_dataloader(self):
        return self._loader()

    def test_dataloader(self):
        return self._loader()


QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         "--trainer.log_every_n_steps", "1"]


def test_fit_writes_a_complete_run_folder(tmp_path):
    run_cli(Toy, ToyData, paper="toy", args=["fit", "--run.root", str(tmp_path), "--run.name", "a",
                                            "--trainer.max_epochs", "2", *QUIET])
    run = tmp_path / "toy" / "a"
    for name in ("config.yaml", "metrics.csv", "results.json", "checkpoints/last.ckpt", "figures/training_curves.png"):
        assert (run / name).is_file(), name
    out = json.loads((run / "results.json").read_text())
    assert out["claim"] == {"holds": True} and out["global_step"] == 8 and "test/loss" in out["metrics"]


def test_ckpt_path_last_resumes_the_most_recent_run(tmp_path):
    base = ["--run.root", str(tmp_path), *QUIET]
    run_cli(Toy, ToyData, paper="toy", args=["fit", *base, "--run.name", "old", "--trainer.max_epochs", "1"])
    run_cli(Toy, ToyData, paper="toy", args=["fit", *base, "--run.name", "new", "--trainer.max_epochs", "1"])
    run_cli(Toy, ToyData, paper="toy", args=["fit", *base, "--ckpt_path", "last", "--trainer.max_epochs", "2"])
    assert json.loads((tmp_path / "toy" / "new" / "results.json").read_text())["global_step"] == 8
    assert json.loads((tmp_path / "toy" / "old" / "results.json").read_text())["global_step"] == 4
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["new", "old"]


@pytest.mark.parametrize("args, named", [(["--model.width", "0"], "model.width"),
                                         (["--model.widht", "3"], "widht"),
                                         (["--model.widt", "3"], "widt"),  # a prefix is no abbreviation
                                         (["--trainer.max_epochs", "x"], "max_epochs")])
def test_mistakes_are_one_line_and_leave_no_empty_run_folder(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as info:
        run_cli(Toy, ToyData, paper="toy", args=["fit", "--run.root", str(tmp_path), *args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(lines) == 1 and named in lines[0], lines
    assert not (tmp_path / "toy").exists() or not any((tmp_path / "toy").iterdir())


# --- resume in the middle of an epoch, refused resumes, threads, the progress bar -----------------------


class ShuffledToyData(L.LightningDataModule):
    """Toy data whose training order depends on the epoch, so a resume that loses its place shows."""

    def __init__(self, n: int = 40, batch_size: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        g = torch.Generator().manual_seed(0)
        self.data = TensorDataset(torch.randn(n, 2, generator=g), torch.randn(n, 1, generator=g))

    def train_dataloader(self):
        return ResumableDataLoader(self.data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(self.data, seed=1))

    def test_dataloader(self):
        return DataLoader(self.data, batch_size=self.hparams.batch_size)


class ToyWithHparams(Toy):
    def __init__(self, width: int = 4, lr: float = 0.1) -> None:
        super().__init__(width, lr)
        self.save_hyperparameters()


class ToyCountingValidations(ToyWithHparams):
    """Records the step of every validation in the model, as papers do for their figures."""

    def __init__(self, width: int = 4, lr: float = 0.1) -> None:
        super().__init__(width, lr)
        self.validated_at: list[int] = []

    def validation_step(self, batch, _):
        self.log("val/loss", self._loss(batch))

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.validated_at.append(self.global_step)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["validated_at"] = list(self.validated_at)

    def on_load_checkpoint(self, checkpoint):
        self.validated_at = list(checkpoint["validated_at"])

    def test_step(self, batch, _):
        super().test_step(batch, _)
        self.log("test/validations", float(len(self.validated_at)))
        self.log("test/validation_steps", float(sum(self.validated_at)))


class ShuffledToyDataWithVal(ShuffledToyData):
    def val_dataloader(self):
        return DataLoader(self.data, batch_size=self.hparams.batch_size)


def toy_main(args):
    return run_cli(ToyWithHparams, ShuffledToyData, paper="toy", args=args)


@pytest.mark.parametrize("stop", [3, 5, 7], ids=["mid_first_epoch", "epoch_boundary", "mid_second_epoch"])
def test_resume_from_any_step_matches_the_uninterrupted_run(tmp_path, stop):
    cli = TrainCLI(toy_main, "toy", tmp_path, QUIET)
    straight, resumed = assert_resume_matches(cli, ["--trainer.max_steps", "12"], ["--trainer.max_steps", str(stop)])
    assert straight["global_step"] == 12 and straight["epochs"] == 3  # 5 batches an epoch: the third is cut short


def test_resume_after_a_max_epochs_stop_with_max_steps_set_matches_the_uninterrupted_run(tmp_path):
    """Lightning restores a run with max_steps as iteration-based: from a plain end-of-epoch
    checkpoint the resumed run took 1 batch of the next epoch instead of 5 (global step 6, not 10)."""
    cli = TrainCLI(toy_main, "toy", tmp_path, [*QUIET, "--trainer.max_steps", "500"])
    straight, _ = assert_resume_matches(cli, ["--trainer.max_epochs", "2"], ["--trainer.max_epochs", "1"])
    assert straight["global_step"] == 10


@pytest.mark.parametrize("stop", [2, 3], ids=["on_a_validation_step", "between_validations"])
def test_resume_keeps_what_the_model_recorded_while_validating(tmp_path, stop):
    cli = TrainCLI(lambda args: run_cli(ToyCountingValidations, ShuffledToyDataWithVal, paper="toy", args=args),
                   "toy", tmp_path, [*QUIET, "--trainer.val_check_interval", "2"])
    straight, _ = assert_resume_matches(cli, ["--trainer.max_steps", "8"], ["--trainer.max_steps", str(stop)])
    assert straight["metrics"]["test/validations"] == 3  # every 2nd batch of a 5-batch epoch: steps 2, 4, 7


def test_resumable_loader_skips_exactly_the_batches_taken_in_the_same_epoch():
    data = TensorDataset(torch.arange(10.0))

    def loader(epoch):
        sampler = EpochSeededSampler(data, seed=0)
        sampler.set_epoch(epoch)
        return ResumableDataLoader(data, batch_size=2, sampler=sampler)

    first = loader(3)
    full = [b[0].tolist() for b in first]
    it = iter(first)
    taken = [next(it)[0].tolist() for _ in range(2)]
    state = first.state_dict()
    assert state == {"epoch": 3, "batches_taken": 2} and taken == full[:2]
    resumed = loader(3)
    resumed.load_state_dict(state)
    assert [b[0].tolist() for b in resumed] == full[2:]
    assert [b[0].tolist() for b in resumed] == full  # the skip applies to one pass only
    later = loader(4)  # a loader cut short in epoch 3 starts epoch 4 from its first batch
    later.load_state_dict(state)
    assert len([b for b in later]) == 5


def test_resume_with_other_settings_or_a_broken_checkpoint_is_refused_untouched(tmp_path, capsys):
    cli = TrainCLI(toy_main, "toy", tmp_path, QUIET)
    cli.fit("--trainer.max_steps", "3", "--run.name", "old")
    before = files_snapshot(cli.run_dir("old"))
    line = cli.error(capsys, "--model.width", "5", "--ckpt_path", "last")
    assert "model.width: checkpoint 4, now 5" in line
    assert "data.batch_size" in cli.error(capsys, "--data.batch_size", "4", "--ckpt_path", "last")
    ckpt = cli.run_dir("old") / "checkpoints" / "last.ckpt"
    assert "model.width" in cli.error(capsys, "--model.width", "5", "--ckpt_path", str(ckpt))
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(ckpt.read_bytes()[:500])
    assert f"cannot read checkpoint {broken}" in cli.error(capsys, "--ckpt_path", str(broken))
    assert "no checkpoint file" in cli.error(capsys, "--ckpt_path", str(tmp_path / "missing.ckpt"))
    assert files_snapshot(cli.run_dir("old")) == before
    assert [p.name for p in (tmp_path / "toy").iterdir()] == ["old"]
    # The same settings resume fine, into the same folder.
    cli.fit("--trainer.max_steps", "6", "--ckpt_path", "last")
    assert cli.results("old")["global_step"] == 6


def test_results_record_the_command_as_typed(tmp_path, monkeypatch):
    cli = TrainCLI(toy_main, "toy", tmp_path, QUIET)
    cli.fit("--trainer.max_steps", "1", "--run.name", "a")
    assert cli.results("a")["command"].startswith("python -m tests.train fit --run.root ")
    monkeypatch.setenv("PAPERS_COMMAND", "papers train 99 --trainer.max_steps 1")
    cli.fit("--trainer.max_steps", "1", "--run.name", "b")
    assert cli.results("b")["command"] == "papers train 99 --trainer.max_steps 1"


def test_threads_setting(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_threads(3) == 3
    assert resolve_threads(None) >= 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads(None) == 1 and resolve_threads(2) == 2
    with pytest.raises(ValueError, match="run.threads"):
        resolve_threads(0)


def test_threads_and_a_bad_value_through_the_cli(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        cli = TrainCLI(toy_main, "toy", tmp_path, QUIET)
        assert "run.threads" in cli.error(capsys, "--run.threads", "0")
        cli.fit("--trainer.max_steps", "1", "--run.threads", "1")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_progress_bar_counts_epochs_from_one(tmp_path, capsys):
    run_cli(ToyWithHparams, ShuffledToyData, paper="toy",
            args=["fit", "--run.root", str(tmp_path), "--trainer.max_epochs", "2", "--trainer.enable_model_summary",
                  "false"])
    printed = capsys.readouterr()
    bar = printed.out + printed.err  # Lightning's tqdm bars write to stdout
    assert "Epoch 2/2" in bar and "Epoch 0" not in bar


class TestToyTrainCLI(TrainCLITests):
    """The shared train-CLI suite itself, run on the toy: what every paper inherits."""

    main = staticmethod(toy_main)
    paper = "toy"
    tiny = ["--trainer.log_every_n_steps", "1"]
    smoke = ["--trainer.max_steps", "2"]
    resume_cases = {"mid_epoch": (["--trainer.max_steps", "8"], ["--trainer.max_steps", "2"])}
    changed_setting = ["--model.width", "6"]
    wrong_settings = [(["--model.width", "0"], "model.width"), (["--data.batch_size", "x"], "batch_size")]
    help_settings = ("--model.width", "--data.batch_size")

    def check_smoke(self, results, run_dir):
        assert results["global_step"] == 2 and "test/loss" in results["metrics"]

    test_module_runs_as_a_script = None  # the toy has no module of its own; every paper runs this test
