"""The images: scikit-learn's handwritten digits by default (embedded, no download), CIFAR-10 on request.

Digits are 1,797 grey 8x8 images in 10 classes. The shared split holds out 360 test images; we
keep 10% of the rest (stratified) for validation and train on the remaining 1,288 (149 validation).

The data-efficiency experiment needs nested, class-balanced subsets of the training set (10% is
inside 25%, which is inside 50%, ...). Every subset gets a loader of the *same length* as the full
training set, cycling through its images, so every model in the experiment takes the same number
of optimiser steps and differs only in how many distinct images it saw.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from shared.data.digits import load_digits_tensors
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def fraction_key(fraction: float) -> str:
    """0.1 -> 'frac_10': a name usable in metric names and nn.ModuleDict keys."""
    return f"frac_{round(100 * fraction)}"


def stratified_order(labels: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """For each class, its indices in a seeded random order. Taking a prefix of every list gives
    class-balanced subsets, and longer prefixes contain shorter ones (the subsets are nested)."""
    g = torch.Generator().manual_seed(seed)
    return [(labels == c).nonzero().flatten()[torch.randperm(int((labels == c).sum()), generator=g)]
            for c in range(int(labels.max()) + 1)]


def nested_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of a class-balanced `fraction` of the examples: ceil(fraction * n_c) from each class c."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    parts = [idx[: math.ceil(fraction * len(idx))] for idx in stratified_order(labels, seed)]
    return torch.cat(parts).sort().values


class CyclingSubsetSampler(Sampler[int]):
    """`length` indices drawn from `indices` by concatenating fresh permutations of them.

    The order depends only on (seed, epoch), like EpochSeededSampler, so a resumed run sees the same
    batches as an uninterrupted one.
    """

    def __init__(self, indices: torch.Tensor, length: int, seed: int = 0) -> None:
        if len(indices) == 0:
            raise ValueError("a subset must hold at least one example")
        self.indices, self.length, self.seed, self.epoch = indices, length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        rounds = math.ceil(self.length / len(self.indices))
        order = torch.cat([self.indices[torch.randperm(len(self.indices), generator=g)] for _ in range(rounds)])
        return iter(order[: self.length].tolist())

    def __len__(self) -> int:
        return self.length


def load_cifar10(data_dir: str | Path, download: bool) -> tuple[torch.Tensor, ...]:
    """CIFAR-10 through torchvision as uint8 tensors: x [n, 3, 32, 32], y [n], for train and test.

    Downloads (about 170 MB) only when `download` is true; otherwise the files must already be there.
    """
    root = Path(data_dir)
    if not download and not (root / "cifar-10-batches-py").is_dir():
        raise FileNotFoundError(f"CIFAR-10 is not in {root}/cifar-10-batches-py; "
                                "pass --data.download true to fetch it (about 170 MB)")
    from torchvision.datasets import CIFAR10

    out = []
    for train in (True, False):
        ds = CIFAR10(str(root), train=train, download=download)
        out += [torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)]
    return tuple(out)


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Move each image by up to `max_shift` pixels in each direction, zero-filling what comes in:
    pad by max_shift, then crop a window of the original size at a random offset per image.
    images [batch, C, H, W] -> [batch, C, H, W]."""
    b, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)  # [batch, C, H + 2s, W + 2s]
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator).to(images.device)
    rows = (offsets[:, 0, None] + torch.arange(h, device=images.device))[:, None, :, None]  # [batch, 1, H, 1]
    cols = (offsets[:, 1, None] + torch.arange(w, device=images.device))[:, None, None, :]  # [batch, 1, 1, W]
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


class CifarImages(Dataset):
    """uint8 CIFAR images -> normalised floats, with the usual light augmentation for training
    (random 32x32 crop of the 4-pixel-padded image, random horizontal flip)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, augment: bool) -> None:
        self.x, self.y, self.augment = x, y, augment
        self.mean = torch.tensor(CIFAR_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CIFAR_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.x[i].float() / 255.0  # [3, 32, 32]
        if self.augment:
            img = torch.nn.functional.pad(img, (4, 4, 4, 4), mode="reflect")
            top, left = torch.randint(0, 9, (2,)).tolist()
            img = img[:, top : top + 32, left : left + 32]
            if torch.rand(()) < 0.5:
                img = img.flip(-1)
        return (img - self.mean) / self.std, self.y[i]


class ImageData(L.LightningDataModule):
    """Train / validation / test images and the nested training subsets of the data-efficiency experiment.

    Args:
        dataset: "digits" (embedded, 8x8 grey) or "cifar10" (32x32 colour, through torchvision).
        fractions: training-set fractions for the data-efficiency experiment; 1.0 (the full set, on
            which the main ViT trains) is always included.
        val_fraction: share of the training split kept aside for validation (stratified).
        max_shift: training augmentation for digits: random shifts of up to this many pixels (0: none).
        batch_size: images per batch, for every model.
        seed: fixes the split, the subsets and the shuffling order.
        data_dir, download: where CIFAR-10 lives, and whether it may be downloaded.
        num_workers: DataLoader worker processes (0 keeps everything in the main process).
    """

    def __init__(self, dataset: str = "digits", fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0),
                 val_fraction: float = 0.1, max_shift: int = 0, batch_size: int = 64, seed: int = 0,
                 data_dir: str = "data", download: bool = False, num_workers: int = 0) -> None:
        super().__init__()
        if dataset not in ("digits", "cifar10"):
            raise ValueError(f"data.dataset must be 'digits' or 'cifar10', got {dataset!r}")
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if max_shift < 0:
            raise ValueError(f"data.max_shift must be >= 0, got {max_shift}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
        for f in fractions:
            if not 0.0 < f <= 1.0:
                raise ValueError(f"data.fractions must lie in (0, 1], got {f}")
        if dataset == "cifar10" and not download and not (Path(data_dir) / "cifar-10-batches-py").is_dir():
            raise FileNotFoundError(f"CIFAR-10 is not in {data_dir}/cifar-10-batches-py; "
                                    "pass --data.download true to fetch it (about 170 MB)")
        fractions = sorted(set(float(f) for f in fractions) | {1.0})
        if len({fraction_key(f) for f in fractions}) != len(fractions):
            raise ValueError(f"data.fractions {fractions} must differ by at least 1%")
        self.save_hyperparameters()
        self.fractions = fractions

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every image."""
        return (1, 8, 8) if self.hparams.dataset == "digits" else (3, 32, 32)

    @property
    def fraction_keys(self) -> list[str]:
        return [fraction_key(f) for f in self.fractions]

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if hp.dataset == "digits":
            x_train, y_train, x_test, y_test = load_digits_tensors(test_fraction=0.2, seed=hp.seed)
        else:
            x_train, y_train, x_test, y_test = load_cifar10(hp.data_dir, hp.download)
        # Validation comes out of the training split, class-balanced; the test split is never touched.
        val_idx = nested_subset(y_train, hp.val_fraction, seed=hp.seed + 1)
        keep = torch.ones(len(y_train), dtype=torch.bool)
        keep[val_idx] = False
        if hp.dataset == "digits":
            self.train_set = TensorDataset(x_train[keep], y_train[keep])
            self.val_set = TensorDataset(x_train[val_idx], y_train[val_idx])
            self.test_set = TensorDataset(x_test, y_test)
        else:
            self.train_set = CifarImages(x_train[keep], y_train[keep], augment=True)
            self.val_set = CifarImages(x_train[val_idx], y_train[val_idx], augment=False)
            self.test_set = CifarImages(x_test, y_test, augment=False)
        self.train_labels = y_train[keep]
        self.subsets = {fraction_key(f): nested_subset(self.train_labels, f, seed=hp.seed + 2)
                        for f in self.fractions}

    def _loader(self, data: Dataset, sampler: Sampler) -> DataLoader:
        # Our own generator, so building a loader never draws from the global RNG (resume equality).
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size, sampler=sampler,
                                   generator=torch.Generator().manual_seed(self.hparams.seed),
                                   num_workers=self.hparams.num_workers,
                                   persistent_workers=self.hparams.num_workers > 0)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Shift training digits by up to max_shift pixels, on the batch's device. The shifts come
        from a generator seeded by the step number, so a resumed run draws the same shifts."""
        trainer = self.trainer
        if (trainer is None or not trainer.training or self.hparams.max_shift == 0
                or self.hparams.dataset != "digits"):
            return batch
        g = torch.Generator().manual_seed(self.hparams.seed * 1_000_003 + trainer.global_step)
        return {key: (random_shift(x, self.hparams.max_shift, g), y) for key, (x, y) in batch.items()}

    def train_dataloader(self) -> dict[str, DataLoader]:
        """One loader per fraction, all as long as the full training set; Lightning zips them, so
        each training step sees one batch per fraction: {'frac_10': (x, y), ..., 'frac_100': (x, y)}."""
        n, seed = len(self.train_set), self.hparams.seed
        loaders = {}
        for i, (key, idx) in enumerate(self.subsets.items()):
            sampler = (EpochSeededSampler(self.train_set, seed=seed) if len(idx) == n
                       else CyclingSubsetSampler(idx, n, seed=seed + 1 + i))
            loaders[key] = self._loader(self.train_set, sampler)
        return loaders

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, EpochSeededSampler(self.val_set, shuffle=False))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, EpochSeededSampler(self.test_set, shuffle=False))
