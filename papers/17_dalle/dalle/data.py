"""Captioned images: coloured shapes rendered in code (the default), or a folder of images with captions.

Every default image is 16x16 RGB on black: one shape (square, circle, triangle) of one colour (red, green,
blue) and one size (small, large) in one quadrant, jittered by up to a pixel. Its caption is the four
words that name those attributes, e.g. "large red circle top-left". 72 combinations exist; the 8 in
`HELD_OUT` never appear in training, so a caption naming one of them is new to every model of the run.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch.utils.data import Dataset, TensorDataset

IMAGE_SIZE = 16
ATTRIBUTES = {  # caption word order: size, colour, shape, position
    "size": ("small", "large"),
    "colour": ("red", "green", "blue"),
    "shape": ("square", "circle", "triangle"),
    "position": ("top-left", "top-right", "bottom-left", "bottom-right"),
}
WORDS = [w for values in ATTRIBUTES.values() for w in values]  # 12 words; text token id = index here
TEXT_LEN = len(ATTRIBUTES)  # 4 caption tokens
TEXT_VOCAB = len(WORDS) + TEXT_LEN  # + one padding token per text position (unused by the default captions)
COMBINATIONS = list(itertools.product(*(range(len(v)) for v in ATTRIBUTES.values())))  # 72 tuples of class ids
HELD_OUT = [  # (size, colour, shape, position); every single word, and most pairs, still occur in training
    ("large", "red", "circle", "top-left"), ("small", "green", "triangle", "bottom-right"),
    ("large", "blue", "square", "top-right"), ("small", "red", "square", "bottom-left"),
    ("large", "green", "circle", "bottom-left"), ("small", "blue", "triangle", "top-left"),
    ("large", "red", "triangle", "bottom-right"), ("small", "blue", "circle", "top-right"),
]
HELD_OUT_IDS = {tuple(ATTRIBUTES[k].index(w) for k, w in zip(ATTRIBUTES, c)) for c in HELD_OUT}
TRAIN_COMBINATIONS = [c for c in COMBINATIONS if c not in HELD_OUT_IDS]  # 64
RGB = {"red": (0.95, 0.15, 0.1), "green": (0.15, 0.85, 0.2), "blue": (0.2, 0.35, 1.0)}
RADIUS = {"small": 2.0, "large": 3.5}  # half the side of the shape's box, in pixels
# (row, column) of the shape's centre: on a pixel, so that a small square (5x5) and a small circle (5x5 less
# its corners) differ; centred between pixels, both would be the same 4x4 block.
CENTRE = {"top-left": (4, 4), "top-right": (4, 11), "bottom-left": (11, 4), "bottom-right": (11, 11)}


def caption(attrs) -> str:
    """The caption of a tuple of class ids (size, colour, shape, position)."""
    return " ".join(values[i] for values, i in zip(ATTRIBUTES.values(), attrs))


def tokens_of(attrs) -> torch.Tensor:
    """Text token ids of a combination: each word's index in WORDS."""
    return torch.tensor([WORDS.index(w) for w in caption(attrs).split()])  # [TEXT_LEN]


def render(attrs, dy: int = 0, dx: int = 0, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Draw one shape: [3, size, size] in [0, 1], black background."""
    s, c, sh, p = (values[i] for values, i in zip(ATTRIBUTES.values(), attrs))
    r, (cy, cx) = RADIUS[s], CENTRE[p]
    cy, cx = cy + dy, cx + dx
    y = torch.arange(size, dtype=torch.float32)[:, None] - cy  # [size, 1], pixel centres relative to the shape
    x = torch.arange(size, dtype=torch.float32)[None, :] - cx  # [1, size]
    if sh == "square":
        mask = (y.abs() <= r) & (x.abs() <= r)
    elif sh == "circle":
        mask = y**2 + x**2 <= (r + 0.3) ** 2
    else:  # triangle, apex up: the half-width grows from 0 at the top row to r at the bottom row
        mask = (y.abs() <= r) & (x.abs() <= (y + r) / 2 + 0.5)
    return mask.float()[None] * torch.tensor(RGB[c])[:, None, None]  # [3, size, size]


def shapes_dataset(combos, n: int, seed: int, repeat: bool = False) -> TensorDataset:
    """n images: drawn uniformly from `combos`, or each combination in turn when `repeat` (the test set).
    Items: (image [3, 16, 16], text tokens [4], attribute ids [4], held-out flag [])."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.arange(n) % len(combos) if repeat else torch.randint(0, len(combos), (n,), generator=g)
    shift = torch.randint(-1, 2, (n, 2), generator=g)
    attrs = torch.tensor([combos[i] for i in idx.tolist()])  # [n, 4]
    images = torch.stack([render(a, int(dy), int(dx)) for a, (dy, dx) in zip(attrs.tolist(), shift)])
    tokens = torch.stack([tokens_of(a) for a in attrs.tolist()])
    held = torch.tensor([tuple(a) in HELD_OUT_IDS for a in attrs.tolist()])
    return TensorDataset(images, tokens, attrs, held)


class CaptionFolder(Dataset):
    """The real-data path: `folder/captions.txt` has one `file.png<TAB>caption` per line; the images sit
    beside it and are resized to `size` x `size` RGB. Words are lower-cased and split on spaces; a caption
    longer than `text_len` words is cut, a shorter one is filled with the padding token of each empty
    position (the paper learns one padding token per text position, Section 2.2)."""

    def __init__(self, folder: str | Path, size: int, text_len: int, vocab: list[str] | None = None) -> None:
        from PIL import Image

        folder = Path(folder)
        index = folder / "captions.txt"
        if not index.is_file():
            raise FileNotFoundError(f"data.data_dir: no captions.txt in {folder}")
        rows = [line.split("\t", 1) for line in index.read_text().splitlines() if line.strip()]
        if not rows or any(len(r) != 2 for r in rows):
            raise ValueError(f"data.data_dir: {index} must hold lines 'file<TAB>caption'")
        words = [r[1].lower().split()[:text_len] for r in rows]
        self.vocab = vocab or sorted({w for ws in words for w in ws})
        n_words = len(self.vocab)
        lookup = {w: i for i, w in enumerate(self.vocab)}
        self.tokens = torch.tensor([[lookup.get(w, n_words + j) for j, w in enumerate(ws)]
                                    + [n_words + j for j in range(len(ws), text_len)] for ws in words])
        images = []
        for name, _ in rows:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f"data.data_dir: image {path} listed in captions.txt is missing")
            img = Image.open(path).convert("RGB").resize((size, size))
            images.append(torch.tensor(list(img.getdata()), dtype=torch.float32).view(size, size, 3) / 255)
        self.images = torch.stack(images).permute(0, 3, 1, 2).contiguous()  # [n, 3, size, size]
        self.text_vocab = n_words + text_len

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):  # no attribute labels: -1, and not held out
        return self.images[i], self.tokens[i], torch.full((TEXT_LEN,), -1), torch.tensor(False)


class Data(L.LightningDataModule):
    """Args:
        n_train: training images (drawn from the 64 training combinations).
        n_test: test images, cycling through all 72 combinations (so the 8 held-out ones are included).
        batch_size: images per step.
        seed: the data's seed (images, jitter, epoch order).
        data_dir: a folder with captions.txt and images (the real-data path); empty for the shapes.
        text_len: caption tokens kept from data_dir captions (the shapes always have 4).
    """

    def __init__(self, n_train: int = 4096, n_test: int = 288, batch_size: int = 64, seed: int = 0,
                 data_dir: str = "", text_len: int = TEXT_LEN) -> None:
        super().__init__()
        for name, value in (("n_train", n_train), ("n_test", n_test), ("batch_size", batch_size),
                            ("text_len", text_len)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if data_dir and not Path(data_dir).is_dir():
            raise FileNotFoundError(f"data.data_dir: {data_dir} is not a folder")
        self.save_hyperparameters()
        self.text_len = text_len if data_dir else TEXT_LEN
        self.text_vocab = TEXT_VOCAB
        if data_dir:  # read the captions now: the model's text settings are checked against them in setup
            self.train_set = CaptionFolder(data_dir, IMAGE_SIZE, text_len)
            self.text_vocab = self.train_set.text_vocab

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if hp.data_dir:  # a small folder: the same images serve for validation and the test samples
            self.test_set = self.train_set
            return
        self.train_set = shapes_dataset(TRAIN_COMBINATIONS, hp.n_train, hp.seed)
        self.test_set = shapes_dataset(COMBINATIONS, hp.n_test, hp.seed + 1, repeat=True)

    def _loader(self, data, shuffle: bool):
        # Epoch-seeded order + a resumable loader: `--ckpt_path last` continues at the very next batch.
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.test_set, False)

    def test_dataloader(self):
        return self._loader(self.test_set, False)
