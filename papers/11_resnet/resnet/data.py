"""Images for the degradation experiment, and the paper's CIFAR-10 preprocessing (Section 4.2).

Default: scikit-learn's handwritten digits (1,797 grey 8x8 images, shipped inside scikit-learn, so
nothing is downloaded). Real-data path: CIFAR-10 through torchvision, fetched only when asked
(`--data.dataset cifar10 --data.root data/cifar10 --data.download true`).

The paper's recipe, applied to both: subtract the per-pixel mean of the training images, and
augment training batches by padding every side and cropping a random window of the original size
(4 pixels on 32x32 CIFAR; 1 pixel on 8x8 digits, the same eighth of the side), plus a random
horizontal flip on CIFAR (not on digits: a mirrored 3 is no longer a 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from shared.data import EpochSeededSampler, ResumableDataLoader, load_digits_tensors
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

DATASETS = {"digits": (1, 8, 10), "cifar10": (3, 32, 10)}  # channels, image side, classes


def random_crop(x: Tensor, pad: int) -> Tensor:
    """Zero-pad `pad` pixels on every side, then cut a random window of the original size per image.

    x [batch, channels, h, w] -> [batch, channels, h, w]. Offsets come from torch's global generator,
    which the run's checkpoints save, so a resumed run crops exactly as an uninterrupted one.
    """
    if pad == 0:
        return x
    batch, channels, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))  # [batch, channels, h + 2 pad, w + 2 pad]
    dy, dx = torch.randint(0, 2 * pad + 1, (2, batch)).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # [batch, h]
    cols = dx[:, None] + torch.arange(w, device=x.device)  # [batch, w]
    b = torch.arange(batch, device=x.device)[:, None, None, None]  # [batch, 1, 1, 1]
    c = torch.arange(channels, device=x.device)[None, :, None, None]  # [1, channels, 1, 1]
    # Advanced indexing on all four axes gathers each image's own window straight into a fresh
    # [batch, channels, h, w] tensor with the standard strides. (Gathering [batch, h, w, channels] and
    # permuting back gives one-channel images strides that PyTorch reads as channels-last: every
    # convolution after it then runs in oneDNN's NHWC kernels, one of which is broken; notes.md section 6.)
    return padded[b, c, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: Tensor) -> Tensor:
    """Mirror each image left-right with probability 1/2. [batch, c, h, w] -> same."""
    flip = (torch.rand(x.size(0)) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def load_cifar10(root: str, download: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """CIFAR-10 as (x_train [50000, 3, 32, 32] in [0, 1], y_train, x_test [10000, ...], y_test)."""
    try:
        from torchvision.datasets import CIFAR10
    except ImportError as e:
        raise ValueError("data.dataset cifar10 needs torchvision: `uv pip install torchvision`") from e
    out = []
    for train in (True, False):
        try:
            ds = CIFAR10(root, train=train, download=download)
        except RuntimeError:
            raise FileNotFoundError(f"CIFAR-10 not found under {Path(root).resolve()}; "
                                    "add --data.download true to fetch it (about 170 MB)") from None
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).float() / 255.0  # [n, 3, 32, 32]
        out += [x, torch.tensor(ds.targets, dtype=torch.long)]
    return tuple(out)


class ImageData(L.LightningDataModule):
    """Training images (augmented on the fly), the held-out test images, and for the final
    evaluation the training images once more without augmentation.

    Args:
        dataset: "digits" (default, embedded) or "cifar10" (torchvision; needs `root`).
        root: folder holding (or receiving) CIFAR-10.
        download: fetch CIFAR-10 into `root` if it is missing. Off unless asked.
        batch_size: images per mini-batch (paper: 128).
        crop_pad: pixels of zero padding before the random crop; None picks the paper's
            proportion (4 on 32x32, 1 on 8x8). 0 turns cropping off.
        flip: random horizontal flips; None picks the paper's choice (CIFAR yes, digits no).
        seed: fixes the digits train/test split and the shuffling order.
        num_workers: DataLoader worker processes (the tensors are in memory; 0 is fine).
    """

    def __init__(self, dataset: Literal["digits", "cifar10"] = "digits", root: str = "data/cifar10",
                 download: bool = False, batch_size: int = 64, crop_pad: int | None = None,
                 flip: bool | None = None, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"data.dataset must be one of {sorted(DATASETS)}, got {dataset!r}")
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if crop_pad is not None and crop_pad < 0:
            raise ValueError(f"data.crop_pad must be >= 0, got {crop_pad}")
        self.save_hyperparameters()
        self.in_channels, self.image_size, self.n_classes = DATASETS[dataset]
        self.crop_pad = crop_pad if crop_pad is not None else self.image_size // 8
        self.flip = flip if flip is not None else dataset == "cifar10"

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if hp.dataset == "digits":
            x_train, y_train, x_test, y_test = load_digits_tensors(test_fraction=0.2, seed=hp.seed)
        else:
            x_train, y_train, x_test, y_test = load_cifar10(hp.root, hp.download)
        # "The per-pixel mean is subtracted" (Section 4.2): the mean image of the training set.
        self.pixel_mean = x_train.mean(0, keepdim=True)  # [1, channels, h, w]
        self.train_set = TensorDataset(x_train - self.pixel_mean, y_train)
        self.test_set = TensorDataset(x_test - self.pixel_mean, y_test)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # Augment on the device the batch lives on (a GPU run crops on the GPU), training only.
        if self.trainer is not None and self.trainer.training:
            x, y = batch
            x = random_crop(x, self.crop_pad)
            batch = (random_flip(x) if self.flip else x), y
        return batch

    def _loader(self, data, shuffle: bool) -> DataLoader:
        # A private generator: otherwise every new iterator draws its base seed from torch's global
        # generator, which the random crops use, and a resumed run would crop differently.
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size, num_workers=self.hparams.num_workers,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle),
                                   generator=torch.Generator().manual_seed(self.hparams.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Training images without augmentation, then the test images, each tagged with its split
        (0 = train, 1 = test): one loader gives the final training error and the test error."""
        (x_train, y_train), (x_test, y_test) = self.train_set.tensors, self.test_set.tensors
        split = torch.cat([torch.zeros(len(y_train), dtype=torch.long), torch.ones(len(y_test), dtype=torch.long)])
        both = TensorDataset(torch.cat([x_train, x_test]), torch.cat([y_train, y_test]), split)
        return self._loader(both, shuffle=False)
