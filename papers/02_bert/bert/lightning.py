"""Pre-train, then fine-tune twice with the same budget: once from the pre-trained encoder, once from scratch.

The first `pretrain_epochs` epochs train BERT on the masked LM and next sentence prediction
(Section 3.1). Every later epoch fine-tunes two classifiers on the derived word-order task
(Section 3.2) side by side, on the very same batches, with the same learning rate and steps:

    pretrained: encoder copied from the pre-trained BERT at the first fine-tuning epoch
    random:     the same architecture, freshly initialised

The difference of their held-out accuracies is the paper's claim: pre-training is what helps.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bert.data import IGNORE
from bert.model import BertConfig, BertForPreTraining, BertForSequenceClassification

CLAIM_MARGIN = 0.02  # pre-trained init must beat random init by at least 2 points of test accuracy


def pretraining_loss(mlm_logits: Tensor, nsp_logits: Tensor, mlm_targets: Tensor, is_next: Tensor) -> tuple:
    """L = mean cross-entropy of the original words at the chosen positions + cross-entropy of IsNext/NotNext.

    mlm_logits [n_chosen, vocab] with their original ids mlm_targets [n_chosen],
    nsp_logits [batch, 2], is_next [batch] -> (total, mlm, nsp), each a scalar.
    """
    mlm = F.cross_entropy(mlm_logits.float(), mlm_targets)
    nsp = F.cross_entropy(nsp_logits.float(), is_next)
    return mlm + nsp, mlm, nsp


def warmup_linear_decay(step: int, total: int, warmup: float) -> float:
    """The paper's schedule as a multiplier of the peak rate: linear warmup over the first
    `warmup` fraction of `total` steps, then linear decay to 0 at `total`; 0 outside [0, total)."""
    if total <= 0 or step < 0 or step >= total:
        return 0.0
    n_warm = max(1, round(warmup * total))
    return (step + 1) / n_warm if step < n_warm else (total - step) / max(1, total - n_warm)


def decay_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """BERT's optimiser applies weight decay to weight matrices only, not to biases or LayerNorm."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        (no_decay if p.dim() < 2 or "norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class BertPretrainFinetune(L.LightningModule):
    """BERT pre-training followed by a pre-trained-vs-random fine-tuning comparison.

    Args:
        vocab_size: must equal data.vocab_size (the word vocabulary, special tokens included).
        d_model, n_heads, d_ff, n_layers: encoder size (BERT-base: 768, 12, 3072, 12).
        max_positions: rows of the learned position table (BERT: 512); must be >= data.max_len.
        dropout, attention_dropout: P_drop of the paper (0.1 and 0.1).
        pretrain_epochs: epochs of MLM + NSP before fine-tuning starts; later epochs fine-tune.
        lr, finetune_lr: peak learning rates of pre-training and of fine-tuning (paper: 1e-4; 2e-5..5e-5).
        warmup: fraction of each stage's steps spent warming up (paper: 10k of 1M steps; 10% for fine-tuning).
        weight_decay: AdamW decay on weight matrices (paper: 0.01).
        n_classes: classes of the fine-tuning task.
        compile: run the encoders through `torch.compile` (a GPU setting; off on CPU).
    """

    def __init__(self, vocab_size: int = 3000, d_model: int = 128, n_heads: int = 4, d_ff: int = 512,
                 n_layers: int = 2, max_positions: int = 64, dropout: float = 0.1, attention_dropout: float = 0.1,
                 pretrain_epochs: int = 1, lr: float = 1e-3, finetune_lr: float = 1e-4, warmup: float = 0.1,
                 weight_decay: float = 0.01, n_classes: int = 2, compile: bool = False) -> None:
        super().__init__()
        if pretrain_epochs < 0:
            raise ValueError(f"model.pretrain_epochs must be >= 0, got {pretrain_epochs}")
        for name, value in (("lr", lr), ("finetune_lr", finetune_lr)):
            if value <= 0:
                raise ValueError(f"model.{name} must be > 0, got {value}")
        if not 0.0 <= warmup < 1.0:
            raise ValueError(f"model.warmup must be in [0, 1), got {warmup}")
        self.save_hyperparameters()
        self.cfg = BertConfig(vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, d_ff=d_ff, n_layers=n_layers,
                              max_len=max_positions, dropout=dropout, attention_dropout=attention_dropout)
        self.pretrain = BertForPreTraining(self.cfg)
        self.pretrained = BertForSequenceClassification(self.cfg, n_classes)  # encoder replaced before fine-tuning
        self.random = BertForSequenceClassification(self.cfg, n_classes)  # stays a random init until fine-tuning
        self.finetune_models = {"pretrained": self.pretrained, "random": self.random}

    # --- stages ---------------------------------------------------------------------------------------------------

    @property
    def stage(self) -> str:
        """'pretrain' for the first pretrain_epochs epochs, 'finetune' after (read by the data module)."""
        return "pretrain" if self.current_epoch < self.hparams.pretrain_epochs else "finetune"

    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule
        if dm is not None and dm.hparams.vocab_size != self.hparams.vocab_size:
            raise ValueError(f"model.vocab_size ({self.hparams.vocab_size}) must equal data.vocab_size "
                             f"({dm.hparams.vocab_size})")
        if dm is not None and dm.hparams.max_len > self.hparams.max_positions:
            raise ValueError(f"data.max_len ({dm.hparams.max_len}) exceeds model.max_positions "
                             f"({self.hparams.max_positions})")

    def configure_model(self) -> None:
        if self.hparams.compile:
            for m in (self.pretrain, self.pretrained, self.random):
                m.compile()  # in place: checkpoints keep the same parameter names

    def on_train_start(self) -> None:
        # The schedule depends on trainer.max_epochs (the fine-tuning stage's length). A run resumed
        # with a larger max_epochs restores the rate its first session computed; recompute it here.
        sched = self.lr_schedulers()
        for group, base, rate in zip(self.optimizers().param_groups, sched.base_lrs, sched.lr_lambdas):
            group["lr"] = base * rate(self.global_step)

    def on_train_epoch_start(self) -> None:
        if self.current_epoch == self.hparams.pretrain_epochs and self.hparams.pretrain_epochs > 0:
            # Section 3.2: fine-tuning starts from all the pre-trained encoder parameters; only the
            # classifier W_cls is new. (A resumed run past this epoch has the copy in its checkpoint.)
            self.pretrained.bert.load_state_dict(self.pretrain.bert.state_dict())

    # --- steps ----------------------------------------------------------------------------------------------------

    def _pretraining_metrics(self, batch: dict, prefix: str) -> Tensor:
        chosen = batch["mlm_labels"] != IGNORE  # [batch, seq]: the ~15% positions the MLM is asked about
        mlm_logits, nsp_logits = self.pretrain(batch["ids"], batch["segment_ids"], batch["padding_mask"], chosen)
        targets = batch["mlm_labels"][chosen]  # [n_chosen]
        loss, mlm, nsp = pretraining_loss(mlm_logits, nsp_logits, targets, batch["is_next"])
        n = len(batch["ids"])
        self.log(f"{prefix}/mlm_loss", mlm, prog_bar=prefix == "train", batch_size=n, add_dataloader_idx=False)
        self.log(f"{prefix}/nsp_loss", nsp, batch_size=n, add_dataloader_idx=False)
        mlm_acc = (mlm_logits.argmax(-1) == targets).float().mean()
        self.log(f"{prefix}/mlm_accuracy", mlm_acc, batch_size=n, add_dataloader_idx=False)
        nsp_acc = (nsp_logits.argmax(-1) == batch["is_next"]).float().mean()
        self.log(f"{prefix}/nsp_accuracy", nsp_acc, batch_size=n, add_dataloader_idx=False)
        return loss

    def _finetuning_metrics(self, batch: dict, prefix: str) -> Tensor:
        total = 0.0
        for name, model in self.finetune_models.items():
            logits = model(batch["ids"], batch["segment_ids"], batch["padding_mask"])  # [batch, n_classes]
            loss = F.cross_entropy(logits.float(), batch["label"])
            acc = (logits.argmax(-1) == batch["label"]).float().mean()
            n = len(batch["ids"])
            self.log(f"{prefix}/loss_{name}", loss, batch_size=n, add_dataloader_idx=False)
            self.log(f"{prefix}/accuracy_{name}", acc, prog_bar=prefix != "train", batch_size=n,
                     add_dataloader_idx=False)
            total = total + loss  # separate parameters: the sum's gradient is each model's own gradient
        return total

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        if "mlm_labels" in batch:
            return self._pretraining_metrics(batch, "train")
        return self._finetuning_metrics(batch, "train")

    def _evaluate(self, batch: dict, prefix: str) -> None:
        if "mlm_labels" in batch:
            self._pretraining_metrics(batch, prefix)
        else:
            self._finetuning_metrics(batch, prefix)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    # --- optimisation -----------------------------------------------------------------------------------------------

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        # Clip each model's gradient norm on its own, so the two fine-tuning runs stay independent.
        if gradient_clip_val:
            for m in (self.pretrain, self.pretrained, self.random):
                torch.nn.utils.clip_grad_norm_([p for p in m.parameters() if p.grad is not None], gradient_clip_val)

    def configure_optimizers(self):
        hp = self.hparams
        dm = self.trainer.datamodule
        pre_steps = hp.pretrain_epochs * dm.steps_per_epoch("pretrain")
        ft_steps = max(0, self.trainer.max_epochs - hp.pretrain_epochs) * dm.steps_per_epoch("finetune")
        finetune_params = nn.ModuleList([self.pretrained, self.random])
        groups = decay_groups(self.pretrain, hp.weight_decay) + decay_groups(finetune_params, hp.weight_decay)
        for g in groups[:2]:
            g["lr"] = hp.lr
        for g in groups[2:]:
            g["lr"] = hp.finetune_lr
        # Adam with decoupled weight decay, beta_2 = 0.999, eps = 1e-6 as in the released code. A
        # parameter without a gradient (the classifiers during pre-training) is not touched.
        opt = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-6)

        def pretrain_lr(step: int) -> float:
            return warmup_linear_decay(step, pre_steps, hp.warmup)

        def finetune_lr(step: int) -> float:
            return warmup_linear_decay(step - pre_steps, ft_steps, hp.warmup)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, [pretrain_lr, pretrain_lr, finetune_lr, finetune_lr])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_test_end(self) -> None:
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            run = Path(self.trainer.default_root_dir)
            plot_finetuning_curves(run / "metrics.csv", run / "figures" / "finetuning_curves.png")

    @staticmethod
    def claim(metrics: dict) -> dict:
        pre = float(metrics.get("test/accuracy_pretrained", float("nan")))
        rnd = float(metrics.get("test/accuracy_random", float("nan")))
        gain = pre - rnd
        return {"metric": "test/accuracy_pretrained - test/accuracy_random", "threshold": CLAIM_MARGIN,
                "value": gain, "holds": gain >= CLAIM_MARGIN}


def plot_finetuning_curves(metrics_csv: Path, path: Path) -> Path | None:
    """Validation accuracy and training loss of the two fine-tuning runs against fine-tuning step."""
    import csv

    import matplotlib.pyplot as plt
    from shared.figures import save_figure, use_style

    if not metrics_csv.is_file():
        return None
    rows = list(csv.DictReader(metrics_csv.open()))
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for key in ("val/accuracy_pretrained", "val/accuracy_random", "train/loss_pretrained", "train/loss_random"):
            if row.get(key):
                series.setdefault(key, []).append((int(row["step"]), float(row[key])))
    if not series.get("val/accuracy_pretrained"):
        return None
    start = min(s for s, _ in series.get("train/loss_pretrained", series["val/accuracy_pretrained"])) - 1
    use_style()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    colours = {"pretrained": "#1f77b4", "random": "#d62728"}
    labels = {"pretrained": "from pre-trained BERT", "random": "from random init"}
    for name in ("pretrained", "random"):
        points = [(s - start, v) for s, v in series.get(f"val/accuracy_{name}", []) if s >= start]
        if points:
            acc_ax.plot(*zip(*points), marker="o", markersize=3, color=colours[name], label=labels[name])
        points = [(s - start, v) for s, v in series.get(f"train/loss_{name}", [])]
        if points:
            loss_ax.plot(*zip(*points), color=colours[name], label=labels[name], alpha=0.85)
    acc_ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    acc_ax.set(title="held-out accuracy (word order task)", xlabel="fine-tuning step", ylim=(0.4, 1.0))
    loss_ax.set(title="fine-tuning training loss", xlabel="fine-tuning step")
    acc_ax.legend()
    loss_ax.legend()
    return save_figure(fig, path)
