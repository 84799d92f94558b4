"""The prompts, generated in code: benign questions and harmful requests (the paper's red-team prompts).

A prompt is `[kind, topic, style]`. The (topic, style) pairs with (topic + style) % 4 == 0 are held out:
the training stages never see them, and the evaluator judges the models on them only.
"""

from __future__ import annotations

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch.utils.data import TensorDataset

from constitutional_ai.constitution import BENIGN, HARMFUL, N_STYLES, N_TOPICS, T0, Y0


def prompt_pool(held_out: bool) -> torch.Tensor:
    """Every (kind, topic, style) of one split. -> [n, 3]"""
    rows = [(kind, T0 + t, Y0 + s) for kind in (BENIGN, HARMFUL) for t in range(N_TOPICS) for s in range(N_STYLES)
            if ((t + s) % 4 == 0) == held_out]
    return torch.tensor(rows)


def draw_prompts(n: int, held_out: bool, seed: int) -> torch.Tensor:
    """n prompts drawn from one split, half harmful (the paper mixes red-team and helpfulness prompts)."""
    pool = prompt_pool(held_out)
    g = torch.Generator().manual_seed(seed)
    return pool[torch.randint(0, len(pool), (n,), generator=g)]


class Data(L.LightningDataModule):
    """Args:
        n_train: training prompts (drawn with replacement from the 96 training (kind, topic, style) triples).
        n_test: held-out prompts for the evaluator (drawn from the 32 held-out triples).
        batch_size: prompts per training step, in every stage.
    """

    def __init__(self, n_train: int = 4096, n_test: int = 512, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_train", n_train), ("n_test", n_test), ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.train_set = TensorDataset(draw_prompts(hp.n_train, False, hp.seed))
        self.test_set = TensorDataset(draw_prompts(hp.n_test, True, hp.seed + 1))

    def _loader(self, data, shuffle: bool):
        # Epoch-seeded order + a resumable loader: `--ckpt_path last` continues at the very next batch.
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def test_dataloader(self):
        return self._loader(self.test_set, False)
