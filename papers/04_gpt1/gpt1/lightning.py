"""The paper's two-stage recipe in one Lightning run, and the comparison that tests its claim.

Stage 1, generative pre-training (Section 3.1): the language model `gpt` minimises L_1 on
unlabelled text windows for `pretrain_epochs` epochs (Adam, linear warmup then cosine decay to 0).

Stage 2, discriminative fine-tuning (Section 3.2) for `finetune_epochs` epochs, on the same
batches of labelled pairs, of three classifiers side by side:

    pretrained          starts from the pre-trained weights, loss L_3 = L_2 + lambda * L_1
    scratch             starts from random weights (same init as `gpt` had), same loss and budget
    pretrained_no_aux   starts from the pre-trained weights, lambda = 0 (the auxiliary-loss ablation)

The claim: `pretrained` beats `scratch` on held-out pairs.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gpt1.data import SPECIALS
from gpt1.model import GPT, GPTClassifier, GPTConfig, lm_loss

# Held-out accuracy, pretrained minus scratch. The default config (`uv run papers train 04`, after the
# per-loader generators of commit 70e1f6a) measured 0.9260 - 0.5010 = 0.4250; the margin keeps under half.
CLAIM_MARGIN = 0.20
VOCAB_SIZE = 85  # 81 characters in the plays + 4 special tokens (tests check it against the data)
VARIANTS = ("pretrained", "scratch", "pretrained_no_aux")


def pretrain_lr(step: int, warmup_steps: int, total_steps: int) -> float:
    """Section 4.1: linear warmup from 0 over `warmup_steps`, then cosine annealing to 0 at `total_steps`.

    Returns the multiplier of the peak learning rate for optimizer step `step` (counted from 0).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def finetune_lr(step: int, total_steps: int, warmup_fraction: float = 0.002) -> float:
    """Section 4.1 (fine-tuning): linear warmup over 0.2% of training, then linear decay to 0."""
    warmup = max(1, math.ceil(warmup_fraction * total_steps))
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def fine_tuning_loss(clf: GPTClassifier, ids: Tensor, extract_pos: Tensor, labels: Tensor, lam: float,
                     pad_id: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """L_3(C) = L_2(C) + lambda * L_1(C), as means of negative log-likelihoods.

    L_2 is the classification loss -log P(y | x^1..x^m); L_1 is the language-modelling loss on the
    same transformed inputs. Returns (L_3, L_2, L_1, class logits [batch, n_classes]).
    """
    logits, h = clf(ids, extract_pos)
    l2 = F.cross_entropy(logits.float(), labels)
    l1 = lm_loss(clf.gpt, ids, h=h, ignore_id=pad_id)
    return l2 + lam * l1, l2, l1, logits


class GPT1(L.LightningModule):
    """Pre-train a GPT language model, then fine-tune it three ways (see the module docstring).

    Args:
        vocab_size: characters plus special tokens (85 for the embedded plays).
        n_positions, d_model, n_heads, d_ff, n_layers, dropout: the model's size
            (paper: 512, 768, 12, 3072, 12, 0.1).
        pretrain_epochs: epochs of language-model pre-training (stage 1).
        finetune_epochs: epochs of fine-tuning (stage 2; paper: 3). trainer.max_epochs must not exceed
            pretrain_epochs + finetune_epochs.
        lr: peak pre-training learning rate (paper: 2.5e-4 at width 768).
        warmup_steps: pre-training warmup (paper: 2000 updates).
        finetune_lr: peak fine-tuning learning rate for every variant (paper: 6.25e-5).
        aux_weight: lambda, the weight of the auxiliary language-modelling loss (paper: 0.5).
        weight_decay: the paper's "modified L2" (decoupled, AdamW) on weight matrices (paper: 0.01).
        clf_dropout: dropout on the classifier input (paper: 0.1).
        grad_clip: gradient-norm clip per model (the paper's code clips at 1).
        compile: run the models through `torch.compile` (a GPU setting; off on CPU).
    """

    def __init__(self, vocab_size: int = VOCAB_SIZE, n_positions: int = 64, d_model: int = 64, n_heads: int = 4,
                 d_ff: int = 256, n_layers: int = 3, dropout: float = 0.1, pretrain_epochs: int = 8,
                 finetune_epochs: int = 4, lr: float = 3e-3, warmup_steps: int = 100, finetune_lr: float = 2e-3,
                 aux_weight: float = 0.5, weight_decay: float = 0.01, clf_dropout: float = 0.1,
                 grad_clip: float = 1.0, compile: bool = False) -> None:
        super().__init__()
        for name, value in (("pretrain_epochs", pretrain_epochs), ("finetune_epochs", finetune_epochs),
                            ("warmup_steps", warmup_steps)):
            if value < 1:
                raise ValueError(f"model.{name} must be >= 1, got {value}")
        for name, value in (("lr", lr), ("finetune_lr", finetune_lr), ("grad_clip", grad_clip)):
            if value <= 0:
                raise ValueError(f"model.{name} must be > 0, got {value}")
        if aux_weight < 0:
            raise ValueError(f"model.aux_weight must be >= 0, got {aux_weight}")
        self.save_hyperparameters()
        self.cfg = GPTConfig(vocab_size=vocab_size, n_positions=n_positions, d_model=d_model, n_heads=n_heads,
                             d_ff=d_ff, n_layers=n_layers, dropout=dropout)
        self.pad_id = vocab_size - len(SPECIALS) + SPECIALS.index("<pad>")
        self.gpt = GPT(self.cfg)
        # The scratch classifier starts from the very weights `gpt` started from, so the only
        # difference between `pretrained` and `scratch` is stage 1.
        self.classifiers = nn.ModuleDict({name: GPTClassifier(self.cfg, 2, clf_dropout) for name in VARIANTS})
        self.classifiers["scratch"].gpt.load_state_dict(self.gpt.state_dict())
        self.aux = {"pretrained": aux_weight, "scratch": aux_weight, "pretrained_no_aux": 0.0}
        self.history: list[dict] = []  # validation accuracy per fine-tuning epoch, for the figure
        self.train_history: list[dict] = []  # training-batch accuracy per fine-tuning step, likewise

    def configure_model(self) -> None:
        if self.hparams.compile:
            for module in (self.gpt, *self.classifiers.values()):
                module.compile()  # in place: checkpoints keep the same parameter names

    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self._trainer is not None else None
        if dm is not None:
            if dm.vocab_size != self.hparams.vocab_size:
                raise ValueError(f"model.vocab_size ({self.hparams.vocab_size}) must equal the data's "
                                 f"vocabulary size ({dm.vocab_size})")
            longest = max(dm.hparams.block_size, 2 * dm.hparams.max_line + 3)
            if longest > self.hparams.n_positions:
                raise ValueError(f"model.n_positions ({self.hparams.n_positions}) is shorter than the longest "
                                 f"input ({longest}: data.block_size or 2 * data.max_line + 3)")
        total = self.hparams.pretrain_epochs + self.hparams.finetune_epochs
        if stage == "fit" and not 1 <= self.trainer.max_epochs <= total:
            raise ValueError(f"trainer.max_epochs ({self.trainer.max_epochs}) must be between 1 and "
                             f"model.pretrain_epochs + model.finetune_epochs ({total})")

    @property
    def pretraining(self) -> bool:
        return self.current_epoch < self.hparams.pretrain_epochs

    def on_train_epoch_start(self) -> None:
        if self.current_epoch == self.hparams.pretrain_epochs:  # stage 2 begins: hand the weights over
            for name in ("pretrained", "pretrained_no_aux"):
                self.classifiers[name].gpt.load_state_dict(self.gpt.state_dict())

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        if self.pretraining:
            loss = lm_loss(self.gpt, batch["lm"])
            self.log("train/lm_loss", loss, prog_bar=True)
            return loss
        ids, extract_pos, labels = batch["pair"]
        total, accuracy = 0.0, {}
        for name, clf in self.classifiers.items():
            l3, l2, _, logits = fine_tuning_loss(clf, ids, extract_pos, labels, self.aux[name], self.pad_id)
            self.log(f"train/clf_loss_{name}", l2, prog_bar=name == "pretrained")
            accuracy[name] = (logits.argmax(-1) == labels).float().mean().item()
            total = total + l3  # the three models share no parameters, so one backward trains each on its own loss
        self.train_history.append(accuracy)
        return total

    def _evaluate(self, batch: dict, stage: str) -> None:
        # Evaluation batches are dicts too; a loader that has run out gives None.
        if batch["lm"] is not None:
            self.log(f"{stage}/lm_loss", lm_loss(self.gpt, batch["lm"]), batch_size=len(batch["lm"]))
        if batch["pair"] is None or (stage == "val" and self.pretraining):
            return  # before stage 2 the classifiers are untouched: nothing to validate
        ids, extract_pos, labels = batch["pair"]
        for name, clf in self.classifiers.items():
            logits, _ = clf(ids, extract_pos)
            self.log(f"{stage}/acc_{name}", (logits.argmax(-1) == labels).float().mean(), batch_size=len(labels))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or self.pretraining:
            return
        metrics = self.trainer.callback_metrics
        if any(f"val/acc_{name}" not in metrics for name in VARIANTS):
            return  # validation was switched off (limit_val_batches=0)
        self.history.append({"epoch": self.current_epoch + 1 - self.hparams.pretrain_epochs,
                             **{name: float(metrics[f"val/acc_{name}"]) for name in VARIANTS}})

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["finetune_history"] = {"val": self.history, "train": self.train_history}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("finetune_history", {})
        self.history, self.train_history = saved.get("val", []), saved.get("train", [])

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        # Clip each model on its own: a global norm over all three would couple their updates.
        for module in (self.gpt, *self.classifiers.values()):
            params = [p for p in module.parameters() if p.grad is not None]
            if params:
                torch.nn.utils.clip_grad_norm_(params, self.hparams.grad_clip)

    def configure_optimizers(self):
        hp, trainer = self.hparams, self.trainer
        # Steps in one epoch, counted from the data module. Not trainer.estimated_stepping_batches: it
        # is capped by --trainer.max_steps (a run stopped early would follow a shorter schedule than
        # the run it resumes into), and it builds the training loader before a resumed run restores
        # the loop, so the loader would start its epoch again instead of at the next batch.
        batches, limit = trainer.datamodule.steps_per_epoch(), trainer.limit_train_batches  # fast_dev_run sets it
        batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
        steps_per_epoch = max(1, math.ceil(batches / trainer.accumulate_grad_batches))
        pretrain_steps = hp.pretrain_epochs * steps_per_epoch
        finetune_steps = hp.finetune_epochs * steps_per_epoch

        def stage1(step: int) -> float:
            return pretrain_lr(step, hp.warmup_steps, pretrain_steps) if step < pretrain_steps else 0.0

        def stage2(step: int) -> float:
            return finetune_lr(step - pretrain_steps, finetune_steps) if step >= pretrain_steps else 0.0

        # One AdamW holds every model; each model's parameter groups get their own schedule. A model
        # that takes no part in a step has no gradient, and AdamW skips it (no update, no decay).
        groups, schedules = [], []
        for module, peak, schedule in ((self.gpt, hp.lr, stage1),
                                       *((clf, hp.finetune_lr, stage2) for clf in self.classifiers.values())):
            matrices = [p for p in module.parameters() if p.dim() >= 2]
            vectors = [p for p in module.parameters() if p.dim() < 2]  # biases and LayerNorm gains: no decay
            groups += [{"params": matrices, "lr": peak, "weight_decay": hp.weight_decay},
                       {"params": vectors, "lr": peak, "weight_decay": 0.0}]
            schedules += [schedule, schedule]
        opt = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedules)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_test_end(self) -> None:
        if not self.trainer.is_global_zero:
            return
        run_dir = Path(self.trainer.default_root_dir)
        if self.history:
            plot_finetune_accuracy(self.history, self.train_history, run_dir / "figures" / "finetune_accuracy.png")
        (run_dir / "samples.txt").write_text(sample_text(self.gpt, self.trainer.datamodule.tokenizer, "ROMEO:\n", 300))

    @staticmethod
    def claim(metrics: dict) -> dict:
        a = float(metrics.get("test/acc_pretrained", float("nan")))
        b = float(metrics.get("test/acc_scratch", float("nan")))
        gain = a - b
        return {"metric": "test/acc_pretrained - test/acc_scratch", "threshold": CLAIM_MARGIN, "value": gain,
                "holds": gain >= CLAIM_MARGIN}


@torch.no_grad()
def sample_text(gpt: GPT, tok, prompt: str, n_chars: int) -> str:
    """Greedy continuation of `prompt` by the pre-trained language model."""
    was_training = gpt.training
    gpt.eval()
    ids = tok.encode(prompt)[None].to(next(gpt.parameters()).device)
    out = gpt.generate(ids, n_chars)
    gpt.train(was_training)
    return tok.decode(out[0])


def plot_finetune_accuracy(history: list[dict], train_history: list[dict], path: Path, window: int = 20) -> Path:
    """Left: training-batch accuracy per fine-tuning step (moving average over `window` steps).
    Right: held-out (validation) accuracy after each fine-tuning epoch. One line per variant."""
    import matplotlib.pyplot as plt
    from shared.figures import save_figure, use_style

    use_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = {"pretrained": "pre-trained", "scratch": "from scratch",
              "pretrained_no_aux": "pre-trained, no auxiliary loss"}
    for name in VARIANTS:
        acc = torch.tensor([h[name] for h in train_history])
        if len(acc) >= window:
            smooth = acc.unfold(0, window, 1).mean(-1)  # [steps - window + 1]
            left.plot(range(window, len(acc) + 1), smooth, label=labels[name])
        right.plot([h["epoch"] for h in history], [h[name] for h in history], marker="o", label=labels[name])
    for ax in (left, right):
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel("accuracy")
    left.set(xlabel="fine-tuning step", title=f"training batches (mean of last {window})")
    right.set(xlabel="fine-tuning epoch", title="validation pairs (held-out plays)")
    right.legend()
    fig.suptitle("Is line B spelt forwards (or every word backwards)?")
    return save_figure(fig, path)
