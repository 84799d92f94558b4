"""Pre-train, then adapt several ways side by side, in one Lightning run.

Stage 1 (`pretrain_epochs`): the language model `gpt` learns next-character prediction on the
pre-training domain (AdamW, linear warmup then cosine decay).

Stage 2 (`adapt_epochs`): copies of the pre-trained model learn the new domain on the same batches:

    full        every parameter trainable (full fine-tuning)
    head        only the output head lm_head trainable (the body frozen)
    lora        W_0 frozen, adapters B A on `targets` (W_q, W_v) at rank r; nothing else trainable
    lora_r{k}   the same at each rank k of `sweep_ranks` (the rank sweep and the subspace analysis)

`gpt` itself stays frozen in stage 2: it is the "frozen" baseline. The claim compares held-out
new-domain loss: LoRA within CLAIM_MARGIN nats of full fine-tuning, far below the frozen model, and
the saved adapter file many times smaller than the fully fine-tuned checkpoint.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import lightning as L
import torch
from torch import Tensor, nn

from lora.figures import plot_rank_sweep, plot_subspace_similarity
from lora.model import GPT, GPTConfig, add_lora, count_trainable, lm_loss, lora_state_dict, subspace_similarity

# The claim's thresholds, set below what the default config measured (README and notes, section 8):
# recovered 0.827, lora - full 0.0205, frozen - lora 0.0982 nats/char, size ratio 39.9. A LoRA
# variant that learned nothing scores frozen - lora = 0 and recovered = 0, and fails.
CLAIM_RECOVERED = 0.70  # LoRA recovers at least this share of full fine-tuning's gain over the frozen model
CLAIM_MARGIN = 0.035  # LoRA's new-domain test loss at most this many nats/char above full fine-tuning
CLAIM_FAR = 0.07  # ... and at least this many nats/char below the frozen model
CLAIM_SIZE_RATIO = 30.0  # the adapter file at least this many times smaller than the full checkpoint
VOCAB_SIZE = 81  # characters of the plays and their capitals (tests check it against the data module)


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """Multiplier of the peak learning rate: linear warmup over `warmup` steps, cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def load_base(model: nn.Module, base_state: dict[str, Tensor]) -> None:
    """Copy a plain GPT's weights into `model`, which may have LoRALinear layers (W_q -> W_q.base)."""
    own = model.state_dict()
    for key in own:
        plain = key.replace(".base.", ".")
        if plain in base_state and not key.endswith(("lora_A", "lora_B")):
            own[key] = base_state[plain]
    model.load_state_dict(own)


class LoRAAdaptation(L.LightningModule):
    """Pre-train a GPT, then fine-tune it fully, head-only and with LoRA (see the module docstring).

    Args:
        vocab_size, n_positions, d_model, n_heads, d_ff, n_layers, dropout: the base model.
        pretrain_epochs, adapt_epochs: the two stages; trainer.max_epochs must not exceed their sum.
        lr, warmup_steps: stage 1's peak learning rate and warmup.
        full_lr, head_lr, lora_lr: stage 2's peak learning rate per variant (each decays to 0).
        r, alpha: LoRA's rank and alpha (the update is scaled by alpha / r; Section 4.1).
        targets: names of the linear layers that get adapters (the paper's default: W_q and W_v).
        sweep_ranks: extra LoRA variants, one per rank, for the rank sweep and the subspace figure.
        compile: run the models through torch.compile (a GPU setting).
    """

    def __init__(self, vocab_size: int = VOCAB_SIZE, n_positions: int = 64, d_model: int = 64, n_heads: int = 4,
                 d_ff: int = 256, n_layers: int = 2, dropout: float = 0.0, pretrain_epochs: int = 7,
                 adapt_epochs: int = 1, lr: float = 3e-3, warmup_steps: int = 50, full_lr: float = 1e-3,
                 head_lr: float = 1e-2, lora_lr: float = 3e-2, r: int = 4, alpha: float = 4.0,
                 targets: list[str] | None = None, sweep_ranks: list[int] | None = None,
                 compile: bool = False) -> None:
        super().__init__()
        targets = ["W_q", "W_v"] if targets is None else list(targets)
        sweep_ranks = [1, 2, 8] if sweep_ranks is None else list(sweep_ranks)
        for name, value in (("pretrain_epochs", pretrain_epochs), ("adapt_epochs", adapt_epochs),
                            ("warmup_steps", warmup_steps), ("r", r), *((f"sweep_ranks[{i}]", k)
                                                                        for i, k in enumerate(sweep_ranks))):
            if value < 1:
                raise ValueError(f"model.{name} must be >= 1, got {value}")
        for name, value in (("lr", lr), ("full_lr", full_lr), ("head_lr", head_lr), ("lora_lr", lora_lr),
                            ("alpha", alpha)):
            if value <= 0:
                raise ValueError(f"model.{name} must be > 0, got {value}")
        allowed = ("W_q", "W_k", "W_v", "W_o", "W_1", "W_2", "lm_head")
        if not targets or any(t not in allowed for t in targets):
            raise ValueError(f"model.targets must be a non-empty list from {list(allowed)}, got {targets}")
        self.save_hyperparameters()
        self.cfg = GPTConfig(vocab_size=vocab_size, n_positions=n_positions, d_model=d_model, n_heads=n_heads,
                             d_ff=d_ff, n_layers=n_layers, dropout=dropout)
        self.gpt = GPT(self.cfg)
        variants = {"full": GPT(self.cfg), "head": GPT(self.cfg)}
        for p in variants["head"].parameters():
            p.requires_grad_(p is variants["head"].lm_head.weight)
        # Adapters scale with alpha / r; the sweep keeps alpha / r fixed (alpha = r * main ratio), so
        # every rank starts from the same effective step size (the paper sets alpha to the first r tried).
        for k in dict.fromkeys([r, *sweep_ranks]):
            name = "lora" if k == r else f"lora_r{k}"
            variants[name] = add_lora(GPT(self.cfg), targets, r=k, alpha=alpha * k / r)
        self.variants = nn.ModuleDict(variants)
        self.history: list[dict] = []

    def configure_model(self) -> None:
        if self.hparams.compile:
            for module in (self.gpt, *self.variants.values()):
                module.compile()

    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self._trainer is not None else None
        if dm is not None:
            if dm.vocab_size != self.hparams.vocab_size:
                raise ValueError(f"model.vocab_size ({self.hparams.vocab_size}) must equal the data's "
                                 f"vocabulary size ({dm.vocab_size})")
            if dm.hparams.block_size > self.hparams.n_positions:
                raise ValueError(f"data.block_size ({dm.hparams.block_size}) exceeds model.n_positions "
                                 f"({self.hparams.n_positions})")
        total = self.hparams.pretrain_epochs + self.hparams.adapt_epochs
        if stage == "fit" and not 1 <= self.trainer.max_epochs <= total:
            raise ValueError(f"trainer.max_epochs ({self.trainer.max_epochs}) must be between 1 and "
                             f"model.pretrain_epochs + model.adapt_epochs ({total})")

    @property
    def pretraining(self) -> bool:
        return self.current_epoch < self.hparams.pretrain_epochs

    def on_train_epoch_start(self) -> None:
        if self.current_epoch == self.hparams.pretrain_epochs:  # stage 2 begins: hand the weights over
            base = self.gpt.state_dict()
            for model in self.variants.values():
                load_base(model, base)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        if self.pretraining:
            loss = lm_loss(self.gpt, batch["pretrain"])
            self.log("train/pretrain_loss", loss, prog_bar=True)
            return loss
        total = 0.0
        for name, model in self.variants.items():
            loss = lm_loss(model, batch["adapt"])
            self.log(f"train/loss_{name}", loss, prog_bar=name in ("full", "lora"))
            total = total + loss  # the variants share no trainable parameter: one backward trains each alone
        return total

    def _evaluate(self, batch: dict, stage: str) -> None:
        if batch["pre"] is not None:
            self.log(f"{stage}/pre_loss_frozen", lm_loss(self.gpt, batch["pre"]), batch_size=len(batch["pre"]))
        if batch["new"] is None:
            return
        n = len(batch["new"])
        self.log(f"{stage}/new_loss_frozen", lm_loss(self.gpt, batch["new"]), batch_size=n)
        if stage == "val" and self.pretraining:
            return  # the variants are untouched until stage 2
        for name, model in self.variants.items():
            self.log(f"{stage}/new_loss_{name}", lm_loss(model, batch["new"]), batch_size=n)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        """Save the adapter and the fully fine-tuned model the way a user would, and log both sizes."""
        out = Path(self.trainer.default_root_dir) / "adapters"
        out.mkdir(parents=True, exist_ok=True)
        torch.save(lora_state_dict(self.variants["lora"]), out / "lora_adapter.pt")
        torch.save(self.variants["full"].state_dict(), out / "full_finetuned.pt")
        adapter, full = os.path.getsize(out / "lora_adapter.pt"), os.path.getsize(out / "full_finetuned.pt")
        trainable, total = count_trainable(self.variants["lora"])
        self.log("test/adapter_bytes", float(adapter))
        self.log("test/full_checkpoint_bytes", float(full))
        self.log("test/size_ratio", full / adapter)
        self.log("test/lora_trainable_share", trainable / (total - trainable))

    def on_test_end(self) -> None:
        if not self.trainer.is_global_zero:
            return
        figures = Path(self.trainer.default_root_dir) / "figures"
        metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items()}
        ranks = sorted(dict.fromkeys([self.hparams.r, *self.hparams.sweep_ranks]))
        losses = {k: metrics.get(f"test/new_loss_{'lora' if k == self.hparams.r else f'lora_r{k}'}") for k in ranks}
        plot_rank_sweep(losses, {n: metrics.get(f"test/new_loss_{n}") for n in ("frozen", "head", "full")},
                        figures / "rank_sweep.png")
        if max(ranks) > self.hparams.r:
            plot_subspace_similarity(self.adapter_A(self.hparams.r), self.adapter_A(max(ranks)), self.hparams.r,
                                     max(ranks), figures / "subspace_similarity.png")

    def adapter_A(self, k: int) -> dict[str, Tensor]:
        """The A matrices [k, d] of the rank-k variant, by layer name."""
        model = self.variants["lora" if k == self.hparams.r else f"lora_r{k}"]
        return {name.removesuffix(".lora_A"): p.detach().cpu() for name, p in model.named_parameters()
                if name.endswith("lora_A")}

    def subspace_top1(self, k_small: int, k_large: int) -> dict[str, float]:
        """phi(A_small, A_large, 1, 1) per adapted layer: how much the top directions agree."""
        a, b = self.adapter_A(k_small), self.adapter_A(k_large)
        return {name: subspace_similarity(a[name], b[name], 1, 1) for name in a}

    def configure_optimizers(self):
        hp, trainer = self.hparams, self.trainer
        batches, limit = trainer.datamodule.steps_per_epoch(), trainer.limit_train_batches  # fast_dev_run sets it
        batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
        steps = max(1, math.ceil(batches / trainer.accumulate_grad_batches))
        pre_steps, adapt_steps = hp.pretrain_epochs * steps, hp.adapt_epochs * steps

        def stage1(step: int) -> float:
            return warmup_cosine(step, hp.warmup_steps, pre_steps) if step < pre_steps else 0.0

        def stage2(step: int) -> float:  # a short warmup, then linear decay to 0, for every variant
            if step < pre_steps:
                return 0.0
            s, warm = step - pre_steps, max(1, adapt_steps // 20)
            return (s + 1) / warm if s < warm else max(0.0, (adapt_steps - s) / max(1, adapt_steps - warm))

        groups, schedules = [{"params": list(self.gpt.parameters()), "lr": hp.lr}], [stage1]
        for name, model in self.variants.items():
            peak = hp.full_lr if name == "full" else hp.head_lr if name == "head" else hp.lora_lr
            groups.append({"params": [p for p in model.parameters() if p.requires_grad], "lr": peak})
            schedules.append(stage2)
        # One AdamW for all; a model with no gradient in a step (stage 1 or 2) is skipped by AdamW.
        opt = torch.optim.AdamW(groups, betas=(0.9, 0.999), weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedules)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @staticmethod
    def claim(metrics: dict) -> dict:
        loss = {n: float(metrics.get(f"test/new_loss_{n}", float("nan"))) for n in ("frozen", "head", "lora", "full")}
        ratio = float(metrics.get("test/size_ratio", float("nan")))
        gap, below_frozen = loss["lora"] - loss["full"], loss["frozen"] - loss["lora"]
        # 1: as good as full fine-tuning; 0: no better than frozen (nan when full fine-tuning gained nothing)
        full_gain = loss["frozen"] - loss["full"]
        recovered = below_frozen / full_gain if full_gain > 0 else float("nan")
        return {
            "metric": "new-domain test loss (nats/char): share of full fine-tuning's gain LoRA recovers, lora - full, "
                      "frozen - lora; full checkpoint / adapter file size",
            "threshold": {"recovered_min": CLAIM_RECOVERED, "lora_minus_full_max": CLAIM_MARGIN,
                          "frozen_minus_lora_min": CLAIM_FAR, "size_ratio_min": CLAIM_SIZE_RATIO},
            "value": {"recovered": round(recovered, 4), "lora_minus_full": round(gap, 4),
                      "frozen_minus_lora": round(below_frozen, 4), "size_ratio": round(ratio, 1)},
            "new_domain_test_loss": loss,
            "holds": bool(recovered >= CLAIM_RECOVERED and gap <= CLAIM_MARGIN and below_frozen >= CLAIM_FAR
                          and ratio >= CLAIM_SIZE_RATIO),  # nan compares False: a missing metric fails
        }
