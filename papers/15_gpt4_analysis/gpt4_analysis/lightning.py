"""The family as one LightningModule: decoders of several widths, each trained for its own number of
steps on the same batches, then the report's evaluation methodology on all of them.

One Adam optimiser holds every model in its own parameter group with its own learning-rate schedule
(warm-up, then cosine decay to zero at that model's last step). A model whose steps are spent is left out
of the forward pass, so its parameters get no gradient and Adam leaves them alone: this is the same as
separate runs on the same data, in one loop (papers 07 and 11 do the same with equal step counts).

At test time (`on_test_epoch_end`): the loss of every model on held-out text; the fit L(C) = a C^b + c through
all but the largest and the largest's predicted loss; the capability suites graded with bootstrap
intervals; the contamination check against the training copy; the calibration of the multiple-choice
answers on a separate calibration set.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gpt4_analysis.contamination import detection_stats, flag_contaminated
from gpt4_analysis.data import N_CTX, OPTIONS, PAD, SUITES, TEXT_TAG, VOCAB, choice_distribution
from gpt4_analysis.harness import bootstrap_ci, expected_calibration_error, grade, greedy_answers, option_probabilities
from gpt4_analysis.model import DecoderLM, ModelConfig, non_embedding_params, training_compute
from gpt4_analysis.scaling import fit_scaling_law, relative_error

# The claim. Thresholds sit below (or above, for errors) what the default run measured
# (`uv run papers train 15 --run.threads 1`; README): relative error +0.0113 (seeds 1, 2: -0.0048, +0.0056;
# two threads: +0.0093), error over drop 0.078 (0.029, 0.034; 0.065), largest loss 1.128, 2.26 decades,
# recall 1.0, false-positive rate 0.0019, ECE 0.020 (0.022, 0.076; 0.015).
# Seeds 3 and 4, held back while the setting was chosen: relative error +0.0370 / -0.0315, error over drop
# 0.194 / 0.297, ECE 0.015 / 0.045: the honest error at this scale is a few per cent.
REL_ERROR_MAX = 0.05  # |predicted - measured| / measured for the largest model's final loss
ERROR_OVER_DROP_MAX = 0.5  # and the miss is at most half of the drop from the last fitted model to the largest
DECADES_MIN = 2.0  # the family spans at least two decades of training compute
RECALL_MIN = 1.0  # every planted item is found
FALSE_POSITIVE_MAX = 0.02  # at most 2% of the clean items flagged
LOSS_MAX = 1.6  # the largest model learned: its held-out loss (uniform guessing: ln 46 = 3.83 nats per token)
ECE_MAX = 0.10  # the largest model's expected calibration error on the multiple-choice suite


def model_names(d_models: list[int]) -> list[str]:
    return [f"d{d}" for d in d_models]


def text_targets(seq: Tensor) -> Tensor:
    """The targets of held-out text lines [batch, N_CTX - 1] with the tag `t ` set to <pad>: the loss scores
    the words, the spaces and <eos>, not the tag (which says what kind of line comes, not what is in it)."""
    target = seq[:, 1:].clone()
    target[:, : len(TEXT_TAG)] = PAD
    return target


class ModelFamily(L.LightningModule):
    """Decoders of widths `d_models`, model i trained for `steps[i]` steps.

    Args:
        d_models: the widths, smallest first. steps: the training steps of each, non-decreasing.
        n_layers, n_heads: shared by every model (d_ff = 4 d_model).
        lr: Adam's peak learning rate, the same for every model ("the same methodology").
        warmup_steps: linear warm-up, then cosine decay to zero at the model's last step.
        substring_len, n_substrings: the contamination check (Appendix C: 50 characters, 3 substrings).
        n_bootstrap: bootstrap resamples per interval. ece_bins: confidence bins of the calibration plot.
        init_seed: the seed the weights are drawn from. compile: run every model through torch.compile.
    """

    def __init__(self, d_models: list[int] = (8, 12, 16, 24, 32, 48),
                 steps: list[int] = (211, 311, 409, 607, 804, 1200),
                 n_layers: int = 1, n_heads: int = 2, lr: float = 1e-2, warmup_steps: int = 20,
                 substring_len: int = 6, n_substrings: int = 3, n_bootstrap: int = 2000, ece_bins: int = 10,
                 init_seed: int = 0, compile: bool = False) -> None:
        super().__init__()
        d_models, steps = list(d_models), list(steps)
        if lr <= 0:
            raise ValueError(f"model.lr must be > 0, got {lr}")
        if d_models != sorted(set(d_models)):
            raise ValueError(f"model.d_models must be distinct and increasing, got {d_models}")
        if len(d_models) < 4:
            raise ValueError(f"model.d_models needs at least 4 sizes (3 to fit a, b, c and 1 to predict), "
                             f"got {d_models}")
        if len(steps) != len(d_models) or steps != sorted(steps) or min(steps) < 1:
            raise ValueError(f"model.steps must give one positive, non-decreasing step count per size, got {steps}")
        if warmup_steps < 0 or substring_len < 1 or n_substrings < 1 or n_bootstrap < 1 or ece_bins < 1:
            raise ValueError("model.warmup_steps must be >= 0 and model.substring_len, n_substrings, n_bootstrap, "
                             f"ece_bins >= 1, got {warmup_steps}, {substring_len}, {n_substrings}, {n_bootstrap}, "
                             f"{ece_bins}")
        self.save_hyperparameters()
        torch.manual_seed(init_seed)
        self.models = nn.ModuleDict({name: DecoderLM(ModelConfig(len(VOCAB), N_CTX, d, n_layers, n_heads))
                                     for name, d in zip(model_names(d_models), d_models)})
        self.steps = dict(zip(self.models, steps))
        self.n_params = {name: non_embedding_params(m) for name, m in self.models.items()}
        self.analysis: dict = {}

    def configure_model(self) -> None:
        if self.hparams.compile:
            for model in self.models.values():
                model.compile()

    def configure_optimizers(self):
        groups = [{"params": list(m.parameters())} for m in self.models.values()]
        opt = torch.optim.Adam(groups, lr=self.hparams.lr, betas=(0.9, 0.95))
        warmup = self.hparams.warmup_steps

        def schedule(total: int):
            def factor(step: int) -> float:  # linear warm-up, cosine to zero at `total`, zero after
                if step < warmup:
                    return (step + 1) / warmup
                return 0.5 * (1.0 + math.cos(math.pi * min((step - warmup) / max(total - warmup, 1), 1.0)))
            return factor

        sched = torch.optim.lr_scheduler.LambdaLR(opt, [schedule(s) for s in self.steps.values()])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @staticmethod
    def _loss(model: nn.Module, seq: Tensor) -> Tensor:
        """Next-token cross-entropy in nats, over real tokens only (padding ignored)."""
        logits = model(seq[:, :-1])  # [batch, N_CTX - 1, vocab]
        return F.cross_entropy(logits.flatten(0, 1), seq[:, 1:].flatten(), ignore_index=PAD)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        (seq,) = batch  # [batch, N_CTX]
        losses = []
        for name, model in self.models.items():
            if self.global_step < self.steps[name]:  # a model whose budget is spent stays as it is
                loss = self._loss(model, seq)
                self.log(f"train/{name}_loss", loss)
                losses.append(loss)
            else:  # NaN keeps every column in metrics.csv, so a resumed run writes the same rows
                self.log(f"train/{name}_loss", float("nan"))
        if not losses:  # every budget spent (trainer.max_steps beyond the last): a zero that keeps the graph
            return sum(p.sum() * 0.0 for p in self.parameters())
        return torch.stack(losses).sum()  # checked for NaN / inf by the shared FiniteLossGuard

    @staticmethod
    def _text_loss(model: nn.Module, seq: Tensor) -> Tensor:
        """The held-out loss: next-token cross-entropy in nats over a text line's words, spaces and <eos>."""
        logits = model(seq[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), text_targets(seq).flatten(), ignore_index=PAD)

    def validation_step(self, batch, batch_idx: int) -> None:
        (seq,) = batch
        for name, model in self.models.items():
            self.log(f"val/{name}_loss", self._text_loss(model, seq))

    def on_test_epoch_start(self) -> None:
        self._sums = {name: 0.0 for name in self.models}
        self._tokens = 0

    def test_step(self, batch, batch_idx: int) -> None:
        (seq,) = batch
        n = int((text_targets(seq) != PAD).sum())
        for name, model in self.models.items():
            self._sums[name] += self._text_loss(model, seq).item() * n
        self._tokens += n

    def on_test_epoch_end(self) -> None:
        dm = self.trainer.datamodule
        losses = {name: s / self._tokens for name, s in self._sums.items()}
        tokens_per_step = dm.hparams.batch_size * (N_CTX - 1)
        compute = {name: training_compute(self.n_params[name], self.steps[name] * tokens_per_step)
                   for name in self.models}
        self.analysis = analyse(self.models, losses, compute, dm, self.hparams)
        for key, value in self.analysis["metrics"].items():
            self.log(f"test/{key}", value)

    def on_test_end(self) -> None:
        if self.trainer.is_global_zero and self.analysis:
            from gpt4_analysis.figures import plot_calibration, plot_profile, plot_scaling

            figures = Path(self.trainer.default_root_dir) / "figures"
            plot_scaling(self.analysis, figures / "loss_prediction.png")
            plot_profile(self.analysis, figures / "capability_profile.png")
            plot_calibration(self.analysis, figures / "calibration.png")

    @staticmethod
    def claim(metrics: dict) -> dict:
        """The largest model's loss predicted within REL_ERROR_MAX from models over >= 2 decades of compute;
        the larger model beats the smaller on the suites beyond the bootstrap intervals; every planted
        item caught with few false positives; the largest model calibrated on the multiple-choice suite."""
        m = {k: float(v) for k, v in metrics.items()}
        nan = float("nan")
        checks = {
            "|relative error| of the largest model's predicted loss": (abs(m.get("test/relative_error", nan)),
                                                                       REL_ERROR_MAX, "<="),
            "|prediction error| / drop from the last fitted model": (m.get("test/error_over_drop", nan),
                                                                  ERROR_OVER_DROP_MAX, "<="),
            "largest model's held-out loss": (m.get("test/largest_loss", nan), LOSS_MAX, "<="),
            "decades of compute in the family": (m.get("test/decades_total", nan), DECADES_MIN, ">="),
            "overall accuracy: large CI low minus small CI high": (m.get("test/profile_gap", nan), 0.0, ">"),
            "recall of the planted items": (m.get("test/contamination_recall", nan), RECALL_MIN, ">="),
            "false-positive rate on clean items": (m.get("test/contamination_fpr", nan), FALSE_POSITIVE_MAX, "<="),
            "ECE of the largest model (multiple choice)": (m.get("test/ece_largest", nan), ECE_MAX, "<="),
        }
        ops = {">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t, ">": lambda v, t: v > t}
        results = {k: {"value": v, "threshold": t, "holds": bool(ops[op](v, t))} for k, (v, t, op) in checks.items()}
        return {"checks": results, "holds": all(r["holds"] for r in results.values())}


def predict_largest(losses: dict[str, float], compute: dict[str, float]):
    """Fit L(C) = a C^b + c through every model but the last (the largest) and predict the last's loss.
    The largest model's own loss is never read here."""
    fitted, large = list(losses)[:-1], list(losses)[-1]
    fit = fit_scaling_law([compute[k] for k in fitted], [losses[k] for k in fitted])
    return fit, float(fit.predict(compute[large]))


def analyse(models: nn.ModuleDict, losses: dict, compute: dict, dm, hp) -> dict:
    """Everything the run reports (see the module docstring); `dm` is the Data module after setup."""
    names = list(models)
    small, large = names[0], names[-1]
    metrics: dict[str, float] = {}
    # 1. Predictable scaling: the fit sees only the smaller models' (C, L).
    fitted = names[:-1]
    fit, predicted = predict_largest(losses, compute)
    for k in names:
        metrics[f"{k}_loss"], metrics[f"{k}_C"] = losses[k], compute[k]
    metrics.update(fit_a=fit.a, fit_b=fit.b, fit_c=fit.c, text_floor=dm.text_floor(), predicted_loss=predicted,
                   largest_loss=losses[large],
                   relative_error=relative_error(predicted, losses[large]),
                   # the miss against what the prediction had to find: the drop from the last fitted model (a
                   # largest model no better than that one has nothing to predict: NaN, which fails the check)
                   error_over_drop=(abs(predicted - losses[large]) / (losses[fitted[-1]] - losses[large])
                                    if losses[fitted[-1]] > losses[large] else float("nan")),
                   decades_fitted=math.log10(compute[fitted[-1]] / compute[fitted[0]]),
                   decades_total=math.log10(compute[large] / compute[small]))
    # 2. Contamination: which evaluation prompts the check finds in the training copy.
    items, prompts = dm.items, [it.prompt for it in dm.items]
    flags = flag_contaminated(prompts, dm.train_lines, hp.substring_len, hp.n_substrings)
    stats = detection_stats(flags, dm.leaked)
    metrics.update(contamination_recall=stats["recall"], contamination_fpr=stats["false_positive_rate"],
                   contamination_flagged=stats["flagged"], contamination_planted=float(len(dm.leaked)))
    for suite in SUITES:  # where the false positives come from
        metrics[f"contamination_fp_{suite}"] = float(sum(f and it.suite == suite and i not in dm.leaked
                                                         for i, (f, it) in enumerate(zip(flags, items))))
    sweep = {}
    for length in sorted({4, 5, hp.substring_len}):  # prompts are 5 or 6 characters once normalised
        s = detection_stats(flag_contaminated(prompts, dm.train_lines, length, hp.n_substrings), dm.leaked)
        sweep[length] = s
        metrics[f"contamination_fpr_len{length}"] = s["false_positive_rate"]
        metrics[f"contamination_recall_len{length}"] = s["recall"]
    # 3. The harness: the smallest and the largest model on every suite; scores on the clean (unflagged)
    # items, with intervals.
    clean = np.array([not f for f in flags])
    profile, calibration = {}, {}
    cal_prompts = [it.prompt for it in dm.calibration]
    cal_refs = np.array([OPTIONS.index(it.answer) for it in dm.calibration])
    # The answer key's own probabilities as a model: the best possible, and its ECE on these references
    # (not zero: a finite sample of random answers; the noise level a calibrated model's ECE sits at).
    key = np.array([choice_distribution(p) for p in cal_prompts])  # [n, 4]
    metrics["ece_answer_key"], _ = expected_calibration_error(key.max(1), (key.argmax(1) == cal_refs).astype(float),
                                                              hp.ece_bins)
    metrics["choice_best_accuracy"] = float(key.max(1).mean())
    for k in (small, large):  # the two scales of the profile
        model = models[k]
        model.eval()
        answers = greedy_answers(model, prompts)
        scores = np.array([grade(it, a) for it, a in zip(items, answers)], dtype=float)
        exact = np.array([a == it.answer for it, a in zip(items, answers)], dtype=float)
        profile[k] = {}
        for suite in [*SUITES, "all"]:
            mask = clean & np.array([suite in ("all", it.suite) for it in items])
            lo, hi = bootstrap_ci(scores[mask], n_resamples=hp.n_bootstrap, seed=hp.init_seed)
            profile[k][suite] = (float(scores[mask].mean()), lo, hi)
            metrics[f"{k}_{suite}_acc"], metrics[f"{k}_{suite}_lo"], metrics[f"{k}_{suite}_hi"] = profile[k][suite]
        even = clean & np.array([it.suite == "even" for it in items])
        metrics[f"{k}_even_exact_match"] = float(exact[even].mean())
        metrics[f"{k}_acc_contaminated"] = float(scores[~clean].mean()) if (~clean).any() else float("nan")
        metrics[f"{k}_acc_clean"] = float(scores[clean].mean())
        # 4. Calibration: P(chosen option) against being right, on the calibration set (choice items that
        # are neither evaluation items nor training lines).
        probs = option_probabilities(model, cal_prompts)  # [n, 4]
        conf, pick = probs.max(-1)
        right = (pick.numpy() == cal_refs).astype(float)
        ece, bins = expected_calibration_error(conf.numpy(), right, hp.ece_bins)
        calibration[k] = {"ece": ece, "bins": bins, "accuracy": float(right.mean())}
        metrics[f"ece_{k}"], metrics[f"{k}_calibration_acc"] = ece, calibration[k]["accuracy"]
    metrics["ece_largest"] = calibration[large]["ece"]
    metrics["profile_gap"] = profile[large]["all"][1] - profile[small]["all"][2]
    return {"metrics": metrics, "fit": fit, "fitted": fitted, "losses": losses, "compute": compute,
            "predicted": predicted, "profile": profile, "calibration": calibration, "sweep": sweep,
            "small": small, "large": large}
