"""Training and evaluation: the LightningModule."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from rag.model import Model, ModelConfig

CLAIM_THRESHOLD = 0.9  # TODO: the paper's claim, as a number the default run must reach


class Module(L.LightningModule):
    def __init__(self, hidden: int = 32, lr: float = 0.01, compile: bool = False) -> None:
        super().__init__()
        if lr <= 0:
            raise ValueError(f"model.lr must be > 0, got {lr}")
        self.save_hyperparameters()
        self.model = Model(ModelConfig(hidden=hidden))

    def configure_model(self) -> None:
        if self.hparams.compile:
            self.model.compile()

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        self.log(f"{stage}/loss", loss, prog_bar=True)
        self.log(f"{stage}/accuracy", (logits.argmax(-1) == y).float().mean(), prog_bar=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    @staticmethod
    def claim(metrics: dict) -> dict:
        value = float(metrics.get("test/accuracy", float("nan")))
        return {"metric": "test/accuracy", "threshold": CLAIM_THRESHOLD, "value": value,
                "holds": value >= CLAIM_THRESHOLD}
