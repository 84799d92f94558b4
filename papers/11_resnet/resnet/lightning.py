"""The degradation experiment (Section 4.2, Figure 6): plain and residual nets of two depths,
trained side by side on the same batches with the paper's recipe.

One SGD optimizer holds the parameters of all four nets and minimises the sum of their four losses.
Because the nets share no parameter, the gradient of the sum with respect to a net's weights is
that net's own gradient, and momentum and weight decay act parameter by parameter: this is exactly
four separate trainings, with identical batches and augmentation, in one loop.
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet.model import ResNet, cifar_config

# The claim, with thresholds set from the measured default run (see README.md and notes.md):
PLAIN_GAP_MIN = 0.20  # deeper plain net's final training error exceeds the shallower one's by >= 20 points
RESIDUAL_GAP_MAX = 0.02  # deeper residual net's final training error is at most 2 points above the shallower's
# ...and the nets must have learned: both shallow nets end at <= 10% training error (default run: plain-8 0.90%,
# ResNet-8 3.06%). Without it, a barely trained run can pass the two gaps by accident: one epoch of the default
# config had plain-32 56 points above plain-8 and ResNet-32 below ResNet-8, with ResNet-8 still at 87% error.
SHALLOW_ERROR_MAX = 0.10


def reaches_onednn_1x1_bug(net: nn.Module) -> bool:
    """True if `net` has a 1x1, stride-2 convolution with 2 to 7 input channels (option B's projection
    after a stage of fewer than 8 filters). Not the paper: a workaround. On channels-last CPU tensors,
    PyTorch 2.15's oneDNN (3.13.3, AVX2 kernel `jit_1x1`) computes that convolution's weight gradient
    wrongly with two threads and corrupts the heap with one (notes.md section 6 has the repro)."""
    return any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1) and 1 < m.in_channels < 8
               for m in net.modules())


@contextmanager
def onednn_enabled(enabled: bool):
    """Switch PyTorch's oneDNN CPU kernels off inside the block (when `enabled` is False), then restore."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = before and enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def net_names(depths: list[int]) -> list[str]:
    return [f"{kind}{d}" for d in depths for kind in ("plain", "resnet")]


def lr_factor(epoch: int, warmup_epochs: int, warmup_lr: float, lr: float, milestones: list[int]) -> float:
    """Multiplier of the base rate at `epoch` (from 0): warmup_lr / lr for the first `warmup_epochs`
    (the paper's warm-up for its deepest net), then divided by 10 at each milestone epoch (paper:
    at 32k and 48k of 64k iterations, half and three quarters of training)."""
    factor = warmup_lr / lr if epoch < warmup_epochs else 1.0
    return factor * 0.1 ** sum(epoch >= m for m in milestones)


class DegradationExperiment(L.LightningModule):
    """Plain-d and ResNet-d for every d in `depths`, all CIFAR-style (6n + 2 layers, Section 4.2).

    Args:
        depths: two or more depths of the form 6n + 2 (paper's Figure 6: 20, 32, 44, 56, 110).
        widths: filters in the three stages (paper: 16, 32, 64).
        shortcut: "B" (1x1 projection where the shape changes) or "A" (zero-padded identity,
            the paper's CIFAR choice: no extra parameters).
        in_channels, n_classes: image channels and classes (1 and 10 for digits, 3 and 10 for CIFAR-10).
        lr, momentum, weight_decay: SGD (paper: 0.1, 0.9, 0.0001).
        warmup_epochs, warmup_lr: train at warmup_lr first (paper, for ResNet-110: 0.01 until the
            training error is below 80%). 0 turns it off.
        lr_milestones: epochs at which the rate is divided by 10 (in epochs, not fractions of
            max_epochs, so that a run resumed with a longer max_epochs keeps its schedule).
        zero_init_residual: start each residual branch's last BN at gamma = 0, so every residual block
            begins as the identity (Goyal et al. 2017; torchvision's option of the same name). Not in
            the paper; the default run needs it to see the deeper ResNet catch up within 10 epochs.
        compile: `torch.compile` each net (a GPU setting).
        channels_last: NHWC memory layout, which the GPU's convolution kernels prefer.
    """

    def __init__(self, depths: list[int] = (8, 32), widths: list[int] = (16, 32, 64), shortcut: str = "B",
                 in_channels: int = 1, n_classes: int = 10, lr: float = 0.1, momentum: float = 0.9,
                 weight_decay: float = 1e-4, warmup_epochs: int = 0, warmup_lr: float = 0.01,
                 lr_milestones: list[int] = (5, 8), zero_init_residual: bool = False, compile: bool = False,
                 channels_last: bool = False) -> None:
        super().__init__()
        depths, widths, lr_milestones = list(depths), list(widths), list(lr_milestones)
        if len(depths) < 2 or len(set(depths)) != len(depths):
            raise ValueError(f"model.depths needs two or more different depths, got {depths}")
        for name, value in (("lr", lr), ("warmup_lr", warmup_lr)):
            if value <= 0:
                raise ValueError(f"model.{name} must be > 0, got {value}")
        if not 0 <= momentum < 1 or weight_decay < 0 or warmup_epochs < 0:
            raise ValueError(f"model.momentum must be in [0, 1), weight_decay and warmup_epochs >= 0; got "
                             f"{momentum}, {weight_decay}, {warmup_epochs}")
        if any(m < 1 for m in lr_milestones):
            raise ValueError(f"model.lr_milestones must be epochs >= 1, got {lr_milestones}")
        self.save_hyperparameters()
        try:
            self.nets = nn.ModuleDict({
                f"{kind}{d}": ResNet(cifar_config(d, kind == "resnet", widths=tuple(widths), shortcut=shortcut,
                                                  zero_init_residual=zero_init_residual, in_channels=in_channels,
                                                  n_classes=n_classes))
                for d in depths for kind in ("plain", "resnet")
            })
        except ValueError as e:
            raise ValueError(f"model: {e}") from None

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        for name in ("in_channels", "n_classes"):
            if dm is not None and hasattr(dm, name) and getattr(dm, name) != self.hparams[name]:
                raise ValueError(f"model.{name} is {self.hparams[name]} but data.dataset "
                                 f"{dm.hparams.dataset!r} has {getattr(dm, name)}")

    def configure_model(self) -> None:
        if self.hparams.channels_last:
            self.nets.to(memory_format=torch.channels_last)
        if self.hparams.compile:
            for net in self.nets.values():
                net.compile()  # in place: checkpoints keep the same parameter names

    def _inputs(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.channels_last else x

    def training_step(self, batch, batch_idx: int) -> Tensor:
        x, y = batch
        x, total = self._inputs(x), 0.0
        for name, net in self.nets.items():
            logits = net(x)  # [batch, n_classes]
            loss = F.cross_entropy(logits, y)
            total = total + loss
            self.log(f"train/loss_{name}", loss, on_step=False, on_epoch=True, batch_size=len(y))
            # Training error as the paper plots it: the running error on this epoch's augmented batches.
            self.log(f"train/error_{name}", (logits.argmax(-1) != y).float().mean(), on_step=False,
                     on_epoch=True, prog_bar=True, batch_size=len(y))
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True)
        return total

    def backward(self, loss: Tensor, *args, **kwargs) -> None:
        # The broken oneDNN kernel (see `reaches_onednn_1x1_bug`) runs only in the backward pass, and
        # PyTorch picks a convolution's backward kernel when the backward runs, not when the forward did:
        # so the switch wraps the backward. Only channels-last CPU runs reach that kernel (the default
        # run is NCHW; a GPU uses cuDNN), and only they pay for the slower fallback.
        avoid = (self.hparams.channels_last and self.device.type == "cpu"
                 and any(reaches_onednn_1x1_bug(net) for net in self.nets.values()))
        with onednn_enabled(not avoid):
            super().backward(loss, *args, **kwargs)

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        x = self._inputs(x)
        for name, net in self.nets.items():
            self.log(f"val/error_{name}", (net(x).argmax(-1) != y).float().mean(), batch_size=len(y))

    def on_test_epoch_start(self) -> None:
        self._wrong = {(split, name): 0 for split in (0, 1) for name in self.nets}
        self._seen = {0: 0, 1: 0}

    def test_step(self, batch, batch_idx: int) -> None:
        x, y, split = batch  # split: 0 = a training image (not augmented), 1 = a test image
        x = self._inputs(x)
        for s in (0, 1):
            self._seen[s] += int((split == s).sum())
        for name, net in self.nets.items():
            wrong = net(x).argmax(-1) != y
            for s in (0, 1):
                self._wrong[(s, name)] += int(wrong[split == s].sum())

    def on_test_epoch_end(self) -> None:
        # Exact error rates over whole splits; logged once, so results.json holds all of them.
        for (s, name), wrong in self._wrong.items():
            prefix = "train_error" if s == 0 else "test_error"
            self.log(f"{prefix}/{name}", wrong / self._seen[s] if self._seen[s] else float("nan"))  # nan: none seen

    def on_test_end(self) -> None:
        if not self.trainer.is_global_zero:
            return
        root = Path(self.trainer.default_root_dir)
        if (root / "metrics.csv").is_file():
            plot_degradation(root / "metrics.csv", root / "figures" / "degradation.png", self.hparams.depths)

    def configure_optimizers(self):
        hp = self.hparams
        opt = torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda epoch: lr_factor(epoch, hp.warmup_epochs, hp.warmup_lr, hp.lr, hp.lr_milestones))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def claim(self, metrics: dict) -> dict:
        return degradation_claim(metrics, self.hparams.depths)


def degradation_claim(metrics: dict, depths: list[int]) -> dict:
    """Shallowest against deepest: the plain net degrades by a margin, the residual net does not, and
    the shallow nets have learned the task (a comparison between untrained nets shows nothing)."""
    shallow, deep = min(depths), max(depths)
    err = {name: float(metrics.get(f"train_error/{name}", float("nan")))
           for name in (f"plain{shallow}", f"plain{deep}", f"resnet{shallow}", f"resnet{deep}")}
    plain_gap = err[f"plain{deep}"] - err[f"plain{shallow}"]
    residual_gap = err[f"resnet{deep}"] - err[f"resnet{shallow}"]
    learned = all(err[name] <= SHALLOW_ERROR_MAX for name in (f"plain{shallow}", f"resnet{shallow}"))  # nan: False
    return {
        "metric": f"final training error: plain{deep} - plain{shallow}, and resnet{deep} - resnet{shallow}; "
                  f"plain{shallow} and resnet{shallow} themselves",
        "threshold": {"plain_gap_min": PLAIN_GAP_MIN, "residual_gap_max": RESIDUAL_GAP_MAX,
                      "shallow_error_max": SHALLOW_ERROR_MAX},
        "value": {"plain_gap": round(plain_gap, 4), "residual_gap": round(residual_gap, 4)},
        "train_error": err,
        "learned": learned,
        "holds": bool(learned and plain_gap >= PLAIN_GAP_MIN and residual_gap <= RESIDUAL_GAP_MAX),
    }


def read_epoch_curves(metrics_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """{metric name: [(epoch, value), ...]} for the per-epoch train/error_* and val/error_* rows."""
    curves: dict[str, dict[int, float]] = {}
    for row in csv.DictReader(Path(metrics_csv).open()):
        for key, value in row.items():
            if value and key.startswith(("train/error_", "val/error_")) and row.get("epoch"):
                curves.setdefault(key, {})[int(float(row["epoch"]))] = float(value)
    return {k: sorted(v.items()) for k, v in curves.items()}


def plot_degradation(metrics_csv: Path, path: Path, depths: list[int]) -> Path:
    """The paper's Figure 6 at our scale: error (%) against epoch, plain left, residual right;
    thin dashed lines are training error, bold lines test error."""
    import matplotlib.pyplot as plt
    from shared.figures import save_figure, use_style

    use_style()
    curves = read_epoch_curves(metrics_csv)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, kind, title in zip(axes, ("plain", "resnet"), ("plain networks", "ResNets")):
        for color, d in zip(colors, sorted(depths)):
            label = f"{'plain' if kind == 'plain' else 'ResNet'}-{d}"
            for stage, style in (("train", dict(ls="--", lw=1.2)), ("val", dict(ls="-", lw=2.2))):
                points = curves.get(f"{stage}/error_{kind}{d}", [])
                if points:
                    epochs, values = zip(*points)
                    ax.plot([e + 1 for e in epochs], [100 * v for v in values], color=color,
                            label=f"{label} ({'train' if stage == 'train' else 'test'})", **style)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("error (%)")
    return save_figure(fig, path)
