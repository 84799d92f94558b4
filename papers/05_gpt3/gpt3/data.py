"""Generated families of tasks for in-context learning, and the held-out tasks that test it.

A task is a mapping. The inputs are n_groups * inputs_per_group symbols split into groups; each group
has its own answers_per_group answer symbols, and a task picks one answer for each group (so there
are answers_per_group ** n_groups tasks: 8^4 = 4,096 in the default run). A demonstration is the two
tokens "input answer"; a fraction `noise` of the demonstrations show a random answer of the right
group instead of the task's, so more demonstrations carry more evidence. A sequence is
n_demos + 1 demonstrations of one task (the last answer is never fed in): the prediction at the
input of demonstration k + 1 has exactly k demonstrations before it, which is a k-shot prompt
(Section 2, Figure 2.1 of the paper), and no weight changes between prompts.

Training sequences use tasks drawn at random; validation and test sequences use tasks that do not
occur in any training sequence (held out, checked here). At training time the target is the next
token (the demonstration's answer, noise included); at test time it is the task's own answer.
"""

from __future__ import annotations

import lightning as L
import torch
from shared.data import EpochSeededSampler, ResumableDataLoader
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

IGNORE = -100  # cross_entropy's ignore_index: positions that are not the model's turn to answer


class TaskFamily:
    """Token layout: inputs 0 .. n_inputs - 1, then answer symbols group by group."""

    def __init__(self, n_groups: int = 4, inputs_per_group: int = 4, answers_per_group: int = 8,
                 noise: float = 0.2) -> None:
        for name, value in (("n_groups", n_groups), ("inputs_per_group", inputs_per_group),
                            ("answers_per_group", answers_per_group)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        if not 0.0 <= noise < 1.0:
            raise ValueError(f"data.noise must be in [0, 1), got {noise}")
        self.n_groups, self.per, self.m, self.noise = n_groups, inputs_per_group, answers_per_group, noise
        self.n_inputs = n_groups * inputs_per_group
        self.vocab_size = self.n_inputs + n_groups * answers_per_group

    def answer_token(self, group: Tensor, answer: Tensor) -> Tensor:
        return self.n_inputs + group * self.m + answer

    def sample_tasks(self, n: int, g: torch.Generator, exclude: set[tuple[int, ...]] = frozenset()) -> Tensor:
        """n tasks [n, n_groups] (answer index per group), none of them in `exclude`."""
        if len(exclude) >= self.m ** self.n_groups:
            raise ValueError("data: every task is excluded; raise answers_per_group or n_groups")
        tasks = torch.randint(0, self.m, (n, self.n_groups), generator=g)
        for i in range(n if exclude else 0):  # redraw the few collisions
            while tuple(tasks[i].tolist()) in exclude:
                tasks[i] = torch.randint(0, self.m, (self.n_groups,), generator=g)
        return tasks

    def sequences(self, tasks: Tensor, n_demos: int, g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Demonstrations of each task -> (idx [n, 2 n_demos + 1], next answer [n, 2 n_demos + 1] at the
        input positions (IGNORE elsewhere), the task's own answer at the same positions)."""
        n, pairs = len(tasks), n_demos + 1
        x = torch.randint(0, self.n_inputs, (n, pairs), generator=g)  # [n, pairs]
        group = x // self.per
        true = tasks.gather(1, group)  # the task's answer for each input: [n, pairs]
        shown = torch.where(torch.rand(n, pairs, generator=g) < self.noise,
                            torch.randint(0, self.m, (n, pairs), generator=g), true)
        y = self.answer_token(group, shown)
        idx = torch.stack([x, y], dim=2).view(n, 2 * pairs)[:, :-1]  # x1 y1 ... x_n y_n x_query
        next_answer = torch.full_like(idx, IGNORE)
        next_answer[:, 0::2] = y
        task_answer = torch.full_like(idx, IGNORE)
        task_answer[:, 0::2] = self.answer_token(group, true)
        return idx, next_answer, task_answer

    def ideal_accuracy(self, idx: Tensor, task_answer: Tensor, k: int) -> float:
        """Expected accuracy of the ideal in-context learner on the k-shot prompts (the first 2k + 1
        tokens): the most frequent answer of the query's group among the k demonstrations (ties
        split evenly; none seen: a uniform guess among the group's answers). With uniform noise this
        is the most probable answer given the prompt."""
        query = idx[:, 2 * k]  # [n]
        demos_x, demos_y = idx[:, 0:2 * k:2], idx[:, 1:2 * k:2]  # [n, k]
        same = (demos_x // self.per) == (query // self.per)[:, None]
        counts = torch.zeros(len(idx), self.vocab_size)
        counts.scatter_add_(1, demos_y, same.float())
        best = counts.max(dim=1).values  # [n]
        winners = (counts == best[:, None]) & (best[:, None] > 0)
        hit = winners.gather(1, task_answer[:, 2 * k, None]).squeeze(1)
        credit = torch.where(best > 0, hit.float() / winners.sum(1).clamp(min=1), torch.tensor(1.0 / self.m))
        return credit.mean().item()


class Data(L.LightningDataModule):
    """Training sequences of random tasks; validation and test sequences of held-out tasks.

    Args:
        n_groups, inputs_per_group, answers_per_group, noise: the task family (see TaskFamily).
        n_demos: demonstrations before the last query of a sequence: the largest k evaluated.
        n_train: training sequences (one random task each); n_val, n_test: held-out sequences.
        batch_size, seed: batches and the generator of every split.
    """

    def __init__(self, n_groups: int = 4, inputs_per_group: int = 4, answers_per_group: int = 8,
                 noise: float = 0.2, n_demos: int = 16, n_train: int = 9600, n_val: int = 512,
                 n_test: int = 4000, batch_size: int = 32, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_demos", n_demos), ("n_train", n_train), ("n_val", n_val), ("n_test", n_test),
                            ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"data.{name} must be >= 1, got {value}")
        self.save_hyperparameters()
        self.family = TaskFamily(n_groups, inputs_per_group, answers_per_group, noise)
        self.vocab_size = self.family.vocab_size
        self.seq_len = 2 * n_demos + 1

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        hp, fam = self.hparams, self.family
        g = torch.Generator().manual_seed(hp.seed)
        train_tasks = fam.sample_tasks(hp.n_train, g)
        self.train_tasks = {tuple(t) for t in train_tasks.tolist()}
        idx, next_answer, _ = fam.sequences(train_tasks, hp.n_demos, g)
        self.train_set = TensorDataset(idx, next_answer)
        # Held out: tasks that no training sequence shows.
        held = fam.sample_tasks(hp.n_val + hp.n_test, g, exclude=self.train_tasks)
        self.val_tasks, self.test_tasks = held[:hp.n_val], held[hp.n_val:]
        self.val_set = TensorDataset(*fam.sequences(self.val_tasks, hp.n_demos, g)[::2])
        self.test_set = TensorDataset(*fam.sequences(self.test_tasks, hp.n_demos, g)[::2])

    def _loader(self, data, shuffle: bool) -> DataLoader:
        return ResumableDataLoader(data, batch_size=self.hparams.batch_size,
                                   sampler=EpochSeededSampler(data, seed=self.hparams.seed, shuffle=shuffle))

    def train_dataloader(self):
        return self._loader(self.train_set, True)

    def val_dataloader(self):
        return self._loader(self.val_set, False)

    def test_dataloader(self):
        return self._loader(self.test_set, False)
