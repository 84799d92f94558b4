"""shared.cli on a toy model: run folder layout, results.json, resume lookup and one-line errors."""

import json

import lightning as L
import pytest
import torch
from shared.cli import run_cli
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
                                         (["--trainer.max_epochs", "x"], "max_epochs")])
def test_mistakes_are_one_line_and_leave_no_empty_run_folder(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as info:
        run_cli(Toy, ToyData, paper="toy", args=["fit", "--run.root", str(tmp_path), *args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(lines) == 1 and named in lines[0], lines
    assert not (tmp_path / "toy").exists() or not any((tmp_path / "toy").iterdir())
