"""Training and evaluation: one LightningModule that trains three networks side by side on the same batches.

- the UNet ε_θ, on L_simple (DDPM Algorithm 1);
- the noisy classifier p_φ(y | x_t), on cross-entropy at a random step t (the guide);
- the judge, an independent classifier of clean digits (evaluate.py), used only after training.

One AdamW optimiser holds all three parameter sets and minimises the sum of the three losses. The nets
share no parameter, so each one's gradient is its own loss's gradient and Adam adapts per parameter:
this is three separate trainings in one loop (the same approach as papers/11_resnet).

After training, the test pass measures L_simple on held-out digits and both classifiers' accuracy, then
samples `samples_per_class` digits of every class at every guidance scale with guided DDIM, and asks the
judge which digit each sample shows (fidelity) and how far apart the samples of one class are (diversity).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from diffusion_models.diffusion import Diffusion, sample_ddim, sample_ddpm
from diffusion_models.evaluate import CleanDigitClassifier, diversity, fidelity, mean_pairwise_distance
from diffusion_models.model import NoisyClassifier, UNet, UNetConfig

# The claim, with thresholds below the measured default run (README.md). Measured at one thread and at two (same
# values): fidelity 0.975 at s = 8, 0.055 at s = 0 (rise 0.92), diversity ratio 0.68, L_simple 0.158, judge 0.972.
FIDELITY_MIN = 0.80  # the judge recognises >= 80% of the samples at the largest scale as the requested class
RISE_MIN = 0.50  # ...which is >= 50 points above the smallest scale (s = 0: unguided, about chance)
DIVERSITY_RATIO_MAX = 0.85  # within-class diversity at the largest scale <= 85% of the smallest scale's
# ...and the models learned: held-out L_simple well under 1.0 (an untrained ε_θ = 0 scores exactly E[ε²] = 1)
LOSS_MAX = 0.5
JUDGE_ACCURACY_MIN = 0.90  # the judge itself must read clean test digits


def scale_name(s: float) -> str:
    return f"{s:g}"


class DiffusionModule(L.LightningModule):
    """Args:
    channels, groups, n_heads: the UNet's (and the noisy classifier's) width, GroupNorm groups, attention heads.
    T, schedule: diffusion steps and the β schedule ("linear" as in DDPM, or "cosine").
    lr, weight_decay: AdamW for all three networks.
    guidance_scales: the scales s at which the test pass samples (0 = unguided, the model is unconditional).
    samples_per_class: guided DDIM samples per class and scale; ddim_steps: DDIM steps per sample.
    ancestral_per_class, ancestral_steps, ancestral_scale: ancestral samples per class, through a chain
        respaced to ancestral_steps steps (T for the full chain), at guidance scale ancestral_scale.
    sample_seed: seeds the sampling noise, so a checkpoint gives the same samples every time.
    noise_seed: seeds the training draws (t and ε for L_simple, t and ε for the guide), made afresh each step
        from a private generator seeded by (noise_seed, step), so a resumed run draws what an uninterrupted one does.
    compile: torch.compile the UNet and the noisy classifier (a GPU setting).
    """

    def __init__(self, channels: int = 32, groups: int = 8, n_heads: int = 4, T: int = 1000,
                 schedule: str = "cosine", lr: float = 2e-3, weight_decay: float = 0.0,
                 guidance_scales: list[float] = (0.0, 1.0, 2.0, 4.0), samples_per_class: int = 20,
                 ddim_steps: int = 25, ancestral_per_class: int = 1, ancestral_steps: int = 100,
                 ancestral_scale: float = 2.0,
                 sample_seed: int = 1234, noise_seed: int = 0, compile: bool = False) -> None:
        super().__init__()
        guidance_scales = [float(s) for s in guidance_scales]
        if lr <= 0:
            raise ValueError(f"model.lr must be > 0, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"model.weight_decay must be >= 0, got {weight_decay}")
        scales = guidance_scales
        scales_ok = len(scales) >= 2 and min(scales) >= 0 and sorted(scales) == scales
        if not scales_ok:
            raise ValueError(f"model.guidance_scales must be two or more increasing scales >= 0, "
                             f"got {guidance_scales}")
        if samples_per_class < 2:
            raise ValueError(f"model.samples_per_class must be >= 2 (diversity compares pairs), "
                             f"got {samples_per_class}")
        if not 1 <= ddim_steps <= T:
            raise ValueError(f"model.ddim_steps must be in 1..T={T}, got {ddim_steps}")
        if not 1 <= ancestral_steps <= T:
            raise ValueError(f"model.ancestral_steps must be in 1..T={T}, got {ancestral_steps}")
        if ancestral_per_class < 0 or ancestral_scale < 0:
            raise ValueError(f"model.ancestral_per_class and model.ancestral_scale must be >= 0, got "
                             f"{ancestral_per_class}, {ancestral_scale}")
        if noise_seed < 0:
            raise ValueError(f"model.noise_seed must be >= 0, got {noise_seed}")
        self.save_hyperparameters()
        cfg = UNetConfig(channels=channels, groups=groups, n_heads=n_heads)
        self.diffusion = Diffusion(T, schedule)
        self.unet = UNet(cfg)  # ε_θ
        self.guide = NoisyClassifier(cfg)  # p_φ(y | x_t)
        self.judge = CleanDigitClassifier()  # evaluation only

    def configure_model(self) -> None:
        if self.hparams.compile:
            self.unet.compile()
            self.guide.compile()

    def training_step(self, batch, batch_idx: int) -> Tensor:
        x0, y = batch  # [batch, 1, 8, 8], [batch]
        # A private generator per step, not torch's global one: the global stream after a resume is not the
        # uninterrupted run's (creating the DataLoader iterator and the sanity check draw from it).
        g = torch.Generator(device=x0.device).manual_seed(self.hparams.noise_seed * 1_000_003 + self.global_step)
        loss_unet = self.diffusion.loss_simple(self.unet, x0, g)
        t = torch.randint(0, self.diffusion.T, (x0.shape[0],), device=x0.device, generator=g)  # the guide's own
        x_t = self.diffusion.q_sample(x0, t, torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=g))
        loss_guide = F.cross_entropy(self.guide(x_t, t), y)
        loss_judge = self.judge.loss(x0, y)  # clean images only
        self.log_dict({"train/loss_simple": loss_unet, "train/loss_guide": loss_guide,
                       "train/loss_judge": loss_judge}, prog_bar=True, batch_size=len(y))
        return loss_unet + loss_guide + loss_judge

    def _held_out(self, batch, stage: str) -> None:
        """L_simple and the guide's accuracy at fixed (t, ε) drawn from a private generator: the same
        numbers whatever the global random state, so a resumed run reports what an uninterrupted one does."""
        x0, y = batch
        g = torch.Generator().manual_seed(1000 + len(y))
        t = torch.randint(0, self.diffusion.T, (len(y),), generator=g).to(x0.device)
        noise = torch.randn(x0.shape, generator=g).to(x0.device)
        x_t = self.diffusion.q_sample(x0, t, noise)
        self.log(f"{stage}/loss_simple", (noise - self.unet(x_t, t)).pow(2).mean(), batch_size=len(y))
        self.log(f"{stage}/guide_accuracy", (self.guide(x_t, t).argmax(-1) == y).float().mean(), batch_size=len(y))
        self.log(f"{stage}/judge_accuracy", (self.judge(x0).argmax(-1) == y).float().mean(), batch_size=len(y))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._held_out(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._held_out(batch, "test")
        self._real.append(batch)

    def on_test_epoch_start(self) -> None:
        self._real = []

    def on_test_epoch_end(self) -> None:
        """Sample at every guidance scale and let the judge score the samples."""
        hp = self.hparams
        self.samples = {}
        with torch.inference_mode(False):  # guidance needs ∇_x log p(y | x_t) inside Lightning's test pass
            labels = torch.arange(10, device=self.device).repeat_interleave(hp.samples_per_class)  # [10 * per_class]
            shape = (len(labels), 1, 8, 8)
            for s in hp.guidance_scales:
                g = torch.Generator().manual_seed(hp.sample_seed)  # the same x_T at every scale
                x = sample_ddim(self.diffusion, self.unet, shape, g, hp.ddim_steps, self.guide, labels, s)
                self.samples[s] = x.clamp(-1, 1)
            if hp.ancestral_per_class:
                anc_labels = torch.arange(10, device=self.device).repeat_interleave(hp.ancestral_per_class)
                g = torch.Generator().manual_seed(hp.sample_seed + 1)
                chain = self.diffusion.respaced(hp.ancestral_steps)
                x = sample_ddpm(chain, self.unet, (len(anc_labels), 1, 8, 8), g, self.guide, anc_labels,
                                hp.ancestral_scale)
                self.ancestral = (x.clamp(-1, 1), anc_labels)
        self.sample_labels = labels
        for s, x in self.samples.items():
            self.log(f"test/fidelity_s{scale_name(s)}", fidelity(self.judge, x, labels))
            self.log(f"test/diversity_s{scale_name(s)}", diversity(x, labels))
        if hp.ancestral_per_class:
            x, anc_labels = self.ancestral
            self.log("test/ancestral_fidelity", fidelity(self.judge, x, anc_labels))
        real = torch.cat([x for x, _ in self._real])  # the held-out digits: how diverse real digits of a class are
        self.log("test/real_diversity", diversity(real, torch.cat([y for _, y in self._real])))
        self.log("test/real_pairwise_distance", mean_pairwise_distance(real))

    def on_test_end(self) -> None:
        if not self.trainer.is_global_zero or not hasattr(self, "samples"):
            return
        from diffusion_models.figures import plot_fidelity_diversity, plot_sample_grids

        root = Path(self.trainer.default_root_dir) / "figures"
        samples = {s: x.cpu() for s, x in self.samples.items()}
        plot_sample_grids(samples, self.sample_labels.cpu(), root / "guided_samples.png")
        metrics = self.trainer.callback_metrics
        scales = list(self.hparams.guidance_scales)
        plot_fidelity_diversity(scales, [float(metrics[f"test/fidelity_s{scale_name(s)}"]) for s in scales],
                                [float(metrics[f"test/diversity_s{scale_name(s)}"]) for s in scales],
                                float(metrics["test/real_diversity"]), root / "fidelity_diversity.png")
        if self.hparams.ancestral_per_class:
            x, labels = self.ancestral
            plot_sample_grids({self.hparams.ancestral_scale: x.cpu()}, labels.cpu(), root / "ancestral_samples.png",
                              per_class=self.hparams.ancestral_per_class,
                              title=f"ancestral samples, {self.hparams.ancestral_steps} of {self.hparams.T} steps, "
                                    f"s = {self.hparams.ancestral_scale:g}")

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    def claim(self, metrics: dict) -> dict:
        return guidance_claim(metrics, list(self.hparams.guidance_scales))


def guidance_claim(metrics: dict, scales: list[float]) -> dict:
    """As the guidance scale grows, the judge recognises more samples as their requested class (fidelity
    rises to FIDELITY_MIN or more) and the samples of a class spread less (diversity falls); and the
    models learned (held-out L_simple, the judge's accuracy on clean digits)."""
    lo, hi = scale_name(min(scales)), scale_name(max(scales))
    get = lambda key: float(metrics.get(key, float("nan")))  # noqa: E731
    fid_lo, fid_hi = get(f"test/fidelity_s{lo}"), get(f"test/fidelity_s{hi}")
    div_lo, div_hi = get(f"test/diversity_s{lo}"), get(f"test/diversity_s{hi}")
    loss, judge = get("test/loss_simple"), get("test/judge_accuracy")
    learned = loss <= LOSS_MAX and judge >= JUDGE_ACCURACY_MIN  # nan: False
    ratio = div_hi / div_lo if div_lo > 0 else float("nan")
    return {
        "metric": f"judge's fidelity at s={hi} and its rise from s={lo}; diversity at s={hi} over s={lo}; "
                  "held-out L_simple and the judge's clean accuracy",
        "threshold": {"fidelity_min": FIDELITY_MIN, "rise_min": RISE_MIN, "diversity_ratio_max": DIVERSITY_RATIO_MAX,
                      "loss_max": LOSS_MAX, "judge_accuracy_min": JUDGE_ACCURACY_MIN},
        "value": {"fidelity": round(fid_hi, 4), "rise": round(fid_hi - fid_lo, 4), "diversity_ratio": round(ratio, 4),
                  "loss_simple": round(loss, 4), "judge_accuracy": round(judge, 4)},
        "learned": bool(learned),
        "holds": bool(learned and fid_hi >= FIDELITY_MIN and fid_hi - fid_lo >= RISE_MIN
                      and ratio <= DIVERSITY_RATIO_MAX),
    }
