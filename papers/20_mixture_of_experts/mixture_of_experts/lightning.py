"""The comparison as one LightningModule: a dense decoder and MoE decoders trained side by side on the
same batches, with the same optimizer steps.

- dense: every feed-forward sublayer is one ReLU network with d_ff hidden units.
- moe: every feed-forward sublayer is an MoE of n_experts experts with d_ff / k hidden units each, top-k
  routing, so a token passes through exactly as many expert weights as through the dense FFN (the
  same active parameters per token), trained with the paper's importance and load losses.
- moe_unbalanced: the same MoE with both balancing losses switched off.
- moe_switch (optional): the same MoE trained with the Switch-style auxiliary loss instead.

One AdamW over the sum of the variants' losses: the models share no parameter, so each one's gradient is
its own loss's. The per-step share of tokens each expert received is kept (in checkpoints too) for the
load figure.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixture_of_experts.model import DecoderLM, ModelConfig, active_params, switch_balance_loss

# name: (label, ffn, balancing loss)
VARIANTS = {
    "dense": ("dense FFN", "dense", "none"),
    "moe": ("MoE, paper's balancing losses", "moe", "paper"),
    "moe_unbalanced": ("MoE, no balancing loss", "moe", "none"),
    "moe_switch": ("MoE, Switch-style loss", "moe", "switch"),
}
# The claim's thresholds, set below what the default run measured (`uv run papers train 20`; README.md and
# notes section 8 give the numbers: loss gap 0.026 nats, training load max/mean 3.85 without and 1.05 with
# the balancing losses):
CLAIM_LOSS_GAP = 0.01  # dense test loss - MoE test loss, nats per character
CLAIM_COLLAPSE = 3.0  # max/mean expert load of the unbalanced MoE (its busiest layer) is at least this
CLAIM_BALANCED = 1.2  # ... and of the balanced MoE at most this (1.0 is uniform; top-2 of 8 allows up to 4)
LOAD_WINDOW = 100  # the load of the claim: each expert's share of the routing over the last 100 training steps


class MoEComparison(L.LightningModule):
    """Character-level decoders, one per variant, trained side by side on the same batches.

    Args:
        vocab_size, d_model, n_layers, n_heads, block_size: the decoder (the same for every variant).
        d_ff: the dense FFN's hidden width; each expert has d_ff / top_k.
        n_experts, top_k: experts per MoE layer and experts each token uses.
        capacity_factor: expert capacity = ceil(capacity_factor · tokens · k / n_experts); null: no limit.
        noisy: the paper's tunable Gaussian noise in the gate (training only).
        w_importance, w_load: weights of the paper's two balancing losses (importance: Section 4; load: Appendix A).
        w_switch: weight of the Switch-style loss for the moe_switch variant.
        variants: which of dense, moe, moe_unbalanced, moe_switch to train.
        lr, weight_decay: AdamW's.
        noise_seed: seeds the gating noise, drawn afresh each step from (noise_seed, step) so that a resumed run
            draws the same noise.
        compile: run each model through torch.compile (a GPU setting).
    """

    def __init__(self, vocab_size: int = 81, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                 block_size: int = 64, d_ff: int = 256, n_experts: int = 8, top_k: int = 2,
                 capacity_factor: float | None = 2.0, noisy: bool = True, w_importance: float = 0.1,
                 w_load: float = 0.1, w_switch: float = 0.01,
                 variants: tuple[str, ...] = ("dense", "moe", "moe_unbalanced"), lr: float = 1e-2,
                 weight_decay: float = 0.0, noise_seed: int = 0, compile: bool = False) -> None:
        super().__init__()
        if lr <= 0:
            raise ValueError(f"model.lr must be > 0, got {lr}")
        for name, value in (("w_importance", w_importance), ("w_load", w_load), ("w_switch", w_switch)):
            if value < 0:
                raise ValueError(f"model.{name} must be >= 0, got {value}")
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown or not variants:
            raise ValueError(f"model.variants must be a non-empty list from {', '.join(VARIANTS)}, "
                             f"got {list(variants)}")
        self.save_hyperparameters()
        base = ModelConfig(vocab_size=vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                           block_size=block_size, d_ff=d_ff, n_experts=n_experts, top_k=top_k,
                           capacity_factor=capacity_factor, noisy=noisy)
        self.models = nn.ModuleDict()
        for name in variants:
            torch.manual_seed(noise_seed)  # the same draws for every variant's shared parts
            self.models[name] = DecoderLM(replace(base, ffn=VARIANTS[name][1]))
        # {variant: [[share of expert e in layer l for e] for l] per training step}: the load figure's data.
        self.load_history: dict[str, list[list[list[float]]]] = {n: [] for n in variants if VARIANTS[n][1] == "moe"}
        self._test_load: dict[str, list[Tensor]] = {}

    def configure_model(self) -> None:
        if self.hparams.compile:
            for model in self.models.values():
                model.compile()

    def setup(self, stage: str) -> None:
        data = getattr(self.trainer, "datamodule", None)
        if data is None:
            return
        if data.vocab_size > self.hparams.vocab_size:
            raise ValueError(f"model.vocab_size ({self.hparams.vocab_size}) is smaller than the data's "
                             f"vocabulary ({data.vocab_size}); set --model.vocab_size {data.vocab_size}")
        if data.hparams.block_size > self.hparams.block_size:
            raise ValueError(f"data.block_size ({data.hparams.block_size}) exceeds model.block_size "
                             f"({self.hparams.block_size})")

    def _seed_noise(self) -> None:
        g = torch.Generator(device=self.device).manual_seed(self.hparams.noise_seed * 1_000_003 + self.global_step)
        for model in self.models.values():
            for layer in model.moe_layers():
                layer.generator = g

    def _aux_loss(self, name: str, model: DecoderLM) -> Tensor:
        hp, kind = self.hparams, VARIANTS[name][2]
        total = torch.zeros((), device=self.device)
        for layer in model.moe_layers():
            if kind == "paper":
                importance, load = layer.balance_losses()
                total = total + hp.w_importance * importance + hp.w_load * load
            elif kind == "switch":
                total = total + hp.w_switch * switch_balance_loss(layer.stats["logits"], layer.top_k)
        return total

    @staticmethod
    def lm_loss(logits: Tensor, y: Tensor) -> Tensor:
        """Mean next-character cross-entropy in nats. logits [batch, seq, vocab], y [batch, seq]."""
        return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())

    @staticmethod
    def load_shares(model: DecoderLM) -> Tensor:
        """[layers, n_experts]: each expert's share of the layer's routing choices in the last batch."""
        chosen = torch.stack([layer.stats["chosen"].float() for layer in model.moe_layers()])
        return chosen / chosen.sum(-1, keepdim=True)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        x, y = batch  # [batch, block_size] each
        self._seed_noise()
        total = 0.0
        for name, model in self.models.items():
            lm = self.lm_loss(model(x), y)
            aux = self._aux_loss(name, model)
            self.log(f"train/loss_{name}", lm, prog_bar=name in ("dense", "moe"))
            if name in self.load_history:
                self.log(f"train/aux_{name}", aux)
                self.load_history[name].append(self.load_shares(model).tolist())
            total = total + lm + aux
        return total

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        for name, model in self.models.items():
            self.log(f"val/loss_{name}", self.lm_loss(model(x), y), prog_bar=name in ("dense", "moe"),
                     batch_size=len(x))

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        for name, model in self.models.items():
            self.log(f"test/loss_{name}", self.lm_loss(model(x), y), batch_size=len(x))
            if model.moe_layers():
                layers = model.moe_layers()
                counts = torch.stack([torch.stack([l.stats["chosen"], l.stats["kept"]]) for l in layers]).float()
                sums = self._test_load.get(name)
                self._test_load[name] = counts if sums is None else sums + counts  # [layers, 2, n_experts]

    def on_test_epoch_end(self) -> None:
        """Held-out routing (noise off), summed over the test set: max/mean load and dropped share per variant;
        then the training-time load of the last LOAD_WINDOW steps."""
        for name, counts in self._test_load.items():
            chosen, kept = counts[:, 0], counts[:, 1]  # [layers, n_experts]
            max_over_mean = (chosen.max(-1).values / chosen.mean(-1)).max()  # the busiest layer
            self.log(f"test/max_load_{name}", max_over_mean, batch_size=1)
            self.log(f"test/dropped_{name}", 1 - kept.sum() / chosen.sum(), batch_size=1)
        self._test_load = {}
        for name, steps in self.load_history.items():
            if steps:  # training-time routing (noise on), which is what the balancing losses act on
                shares = torch.tensor(steps[-LOAD_WINDOW:]).mean(0)  # [layers, n_experts]
                self.log(f"test/train_max_load_{name}", (shares.max(-1).values * shares.shape[-1]).max(), batch_size=1)

    def on_test_end(self) -> None:
        if not self.trainer.is_global_zero or not any(self.load_history.values()):
            return
        from mixture_of_experts.figures import plot_expert_load

        labels = {n: VARIANTS[n][0] for n in self.load_history}
        plot_expert_load(self.load_history, labels, Path(self.trainer.default_root_dir) / "figures" / "expert_load.png")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["load_history"] = self.load_history

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.load_history = {k: list(v) for k, v in checkpoint.get("load_history", self.load_history).items()}

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    def claim(self, metrics: dict) -> dict:
        """At equal active parameters the MoE beats the dense model; without the balancing loss the load
        collapses, with it the load stays near uniform."""
        m = {k: float(v) for k, v in metrics.items()}
        nan = float("nan")
        checks = {
            "dense - moe test loss": (m.get("test/loss_dense", nan) - m.get("test/loss_moe", nan), CLAIM_LOSS_GAP,
                                      ">="),
            "moe_unbalanced max/mean training load": (m.get("test/train_max_load_moe_unbalanced", nan), CLAIM_COLLAPSE,
                                                      ">="),
            "moe max/mean training load": (m.get("test/train_max_load_moe", nan), CLAIM_BALANCED, "<="),
        }
        results = {k: {"value": v, "threshold": t, "holds": v >= t if op == ">=" else v <= t}
                   for k, (v, t, op) in checks.items()}
        return {"checks": results, "holds": all(r["holds"] for r in results.values()),
                "active_params": {name: active_params(model) for name, model in self.models.items()}}
