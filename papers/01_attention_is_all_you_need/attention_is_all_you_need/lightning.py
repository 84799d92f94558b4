"""Training the Transformer the paper's way (Section 5): label smoothing, Adam with beta_2 = 0.98,
and the warmup-then-inverse-square-root learning rate. Evaluation decodes held-out inputs with
greedy and beam search and counts exact matches."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from attention_is_all_you_need.data import BOS, EOS, PAD, VOCAB, number_to_words
from attention_is_all_you_need.model import Transformer, TransformerConfig

CLAIM_THRESHOLD = 0.95  # catalog: >= 95% exact match on held-out inputs


def label_smoothed_loss(logits: Tensor, target: Tensor, eps: float, pad_id: int) -> Tensor:
    """Cross-entropy against a smoothed target: (1 - eps) on the right token, eps spread evenly over
    the whole vocabulary (Section 5.4, Szegedy et al. 2016). Padding positions are ignored.

    loss = (1 - eps) * (-log p[target]) + eps * mean_v(-log p[v])
    logits [batch, seq, vocab], target [batch, seq] -> scalar.
    """
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {eps}")
    logp = logits.float().log_softmax(-1)  # [batch, seq, vocab]
    nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # [batch, seq]
    uniform = -logp.mean(-1)  # [batch, seq]
    per_token = (1.0 - eps) * nll + eps * uniform
    keep = target != pad_id
    return per_token[keep].mean()


def noam_lr(step: int, d_model: int, warmup_steps: int, factor: float = 1.0) -> float:
    """lrate = factor * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5), step counted from 1.

    Linear warmup for `warmup_steps`, then decay as 1/sqrt(step); the two branches meet at the
    peak, factor * (d_model * warmup_steps)^-0.5.
    """
    step = max(step, 1)
    return factor * d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def exact_matches(pred: Tensor, tgt: Tensor) -> Tensor:
    """Per row: does the predicted sequence equal the reference up to and including EOS? -> bool [batch]."""
    def until_eos(row: Tensor) -> list[int]:
        out = []
        for i in row.tolist():
            out.append(i)
            if i == EOS:
                break
        return out

    return torch.tensor([until_eos(p) == until_eos(t) for p, t in zip(pred, tgt)])


class TransformerTranslator(L.LightningModule):
    """The encoder-decoder Transformer trained to translate number words into digits.

    Args:
        vocab_size: joint source/target vocabulary size (linked from the data module).
        d_model, n_heads, d_ff, n_layers, dropout: the model's size (paper's base: 512, 8, 2048, 6, 0.1).
        label_smoothing: eps_ls (paper: 0.1).
        warmup_steps: steps of linear learning-rate warmup (paper: 4000).
        lr_factor: multiplies the paper's schedule (paper: 1.0).
        beam_size, length_alpha: beam search settings (paper: 4 and 0.6).
        max_output_len: longest output decoded at evaluation, in tokens.
        compile: run the model through `torch.compile` (a GPU setting; off on CPU).
    """

    def __init__(self, vocab_size: int = len(VOCAB), d_model: int = 64, n_heads: int = 4, d_ff: int = 256,
                 n_layers: int = 2, dropout: float = 0.1, label_smoothing: float = 0.1, warmup_steps: int = 400,
                 lr_factor: float = 1.0, beam_size: int = 4, length_alpha: float = 0.6, max_output_len: int = 8,
                 compile: bool = False) -> None:
        super().__init__()
        if warmup_steps < 1:
            raise ValueError(f"model.warmup_steps must be >= 1, got {warmup_steps}")
        if lr_factor <= 0:
            raise ValueError(f"model.lr_factor must be > 0, got {lr_factor}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"model.label_smoothing must be in [0, 1), got {label_smoothing}")
        self.save_hyperparameters()
        self.cfg = TransformerConfig(vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, d_ff=d_ff,
                                     n_layers=n_layers, dropout=dropout, max_len=64, pad_id=PAD)
        self.model = Transformer(self.cfg)

    def configure_model(self) -> None:
        if self.hparams.compile:
            self.model.compile()  # in place: checkpoints keep the same parameter names

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        return self.model(src, tgt_in)

    def _loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        src, tgt = batch  # [batch, t_src], [batch, t_tgt] with tgt = <bos> y <eos>
        # Teacher forcing: the decoder reads y shifted right and predicts y.
        logits = self(src, tgt[:, :-1])  # [batch, t_tgt - 1, vocab]
        return label_smoothed_loss(logits, tgt[:, 1:], self.hparams.label_smoothing, PAD)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/lr", self.lr_schedulers().get_last_lr()[0])
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        src, tgt = batch
        self.log("val/loss", self._loss(batch), prog_bar=True, batch_size=len(src))
        pred = self.model.greedy_decode(src, BOS, EOS, self.hparams.max_output_len)
        self.log("val/exact_match", exact_matches(pred, tgt).float().mean(), prog_bar=True, batch_size=len(src))

    def test_step(self, batch, batch_idx: int) -> None:
        src, tgt = batch
        n = len(src)
        self.log("test/loss", self._loss(batch), batch_size=n)
        greedy = self.model.greedy_decode(src, BOS, EOS, self.hparams.max_output_len)
        self.log("test/exact_match", exact_matches(greedy, tgt).float().mean(), batch_size=n)
        beam = self.model.beam_search(src, BOS, EOS, self.hparams.max_output_len, self.hparams.beam_size,
                                      self.hparams.length_alpha)
        self.log("test/exact_match_beam", exact_matches(beam, tgt).float().mean(), batch_size=n)

    def on_test_end(self) -> None:
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            figure_dir = Path(self.trainer.default_root_dir) / "figures"
            plot_cross_attention(self.model, [342_007, 1_005, 90_210], figure_dir / "cross_attention.png",
                                 self.hparams.max_output_len)

    def configure_optimizers(self):
        hp = self.hparams
        # Base lr 1.0: the LambdaLR multiplier below *is* the learning rate.
        opt = torch.optim.Adam(self.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: noam_lr(step + 1, hp.d_model, hp.warmup_steps, hp.lr_factor)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @staticmethod
    def claim(metrics: dict) -> dict:
        value = float(metrics.get("test/exact_match", float("nan")))
        return {"metric": "test/exact_match", "threshold": CLAIM_THRESHOLD, "value": value,
                "holds": value >= CLAIM_THRESHOLD}


@torch.no_grad()
def translate(model: Transformer, number: int, max_output_len: int = 8) -> tuple[list[str], list[str], list]:
    """Greedy-translate one number's words; return (source words, output tokens, cross-attention per layer)."""
    vocab = {t: i for i, t in enumerate(VOCAB)}
    words = number_to_words(number)
    src = torch.tensor([[vocab[w] for w in words]], device=next(model.parameters()).device)
    out = model.greedy_decode(src, BOS, EOS, max_output_len)
    memory, src_mask, _ = model.encode(src)
    _, maps = model.decode(out[:, :-1], memory, src_mask, need_weights=True)
    tokens = [VOCAB[i] for i in out[0, 1:].tolist()]
    return words, tokens, maps


def plot_cross_attention(model: Transformer, numbers: list[int], path: Path, max_output_len: int = 8) -> Path:
    """One panel per number: last decoder layer's cross-attention, averaged over heads."""
    import matplotlib.pyplot as plt
    from shared.figures import attention_heatmap, save_figure, use_style

    use_style()
    was_training = model.training
    model.eval()
    fig, axes = plt.subplots(1, len(numbers), figsize=(4.2 * len(numbers), 3.6))
    for ax, n in zip(axes, numbers):
        words, tokens, maps = translate(model, n, max_output_len)
        weights = maps[-1][0].mean(0)  # [t_out, t_src], heads averaged
        attention_heatmap(ax, weights, words, tokens, title=f"{n:,}")
        ax.set_xlabel("source words (keys)")
    axes[0].set_ylabel("output tokens (queries)")
    fig.suptitle("Decoder cross-attention, last layer (mean over heads)")
    model.train(was_training)
    return save_figure(fig, path)
