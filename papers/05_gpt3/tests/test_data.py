"""The task family: held-out tasks never appear in training, prompts are what the paper calls k-shot,
the noise rate is what it says, and the ideal learner's accuracy is computed right."""

import pytest
import torch
from gpt3.data import IGNORE, Data, TaskFamily


def test_held_out_tasks_never_appear_in_training():
    # 8^2 = 64 possible tasks and 40 training draws: a fresh draw would hit a training task about half the time.
    dm = Data(n_train=40, n_val=16, n_test=200, n_groups=2, answers_per_group=8)
    dm.setup()
    assert len(dm.train_tasks) > 20
    held = {tuple(t) for t in torch.cat([dm.val_tasks, dm.test_tasks]).tolist()}
    assert not held & dm.train_tasks
    assert len(held) == 64 - len(dm.train_tasks)  # 216 held-out draws cover every remaining task


def test_every_task_excluded_is_an_error():
    fam = TaskFamily(n_groups=1, answers_per_group=2)
    with pytest.raises(ValueError, match="every task is excluded"):
        fam.sample_tasks(1, torch.Generator(), exclude={(0,), (1,)})


def test_sequence_layout_and_answers():
    fam = TaskFamily(n_groups=2, inputs_per_group=3, answers_per_group=4, noise=0.0)
    tasks = torch.tensor([[2, 1]])
    idx, next_answer, task_answer = fam.sequences(tasks, n_demos=5, g=torch.Generator().manual_seed(0))
    assert idx.shape == (1, 11)  # 5 demonstrations of 2 tokens, then the query
    x, y = idx[0, 0::2], idx[0, 1::2]
    assert (x < 6).all() and (y >= 6).all()
    expected = torch.where(x // 3 == 0, 6 + 0 * 4 + 2, 6 + 1 * 4 + 1)
    assert torch.equal(y, expected[:5])  # noise 0: every demonstration shows the task's answer
    assert torch.equal(task_answer[0, 0::2], expected) and torch.equal(next_answer[0, 0::2][:5], y)
    assert (task_answer[0, 1::2] == IGNORE).all()


def test_noise_rate_is_what_it_says():
    fam = TaskFamily(noise=0.2)
    tasks = fam.sample_tasks(4000, torch.Generator().manual_seed(0))
    _, next_answer, task_answer = fam.sequences(tasks, 16, torch.Generator().manual_seed(1))
    wrong = (next_answer[:, 0::2] != task_answer[:, 0::2]).float().mean().item()
    assert wrong == pytest.approx(0.2 * 7 / 8, abs=0.01)  # a noisy draw hits the right answer 1 time in 8


def test_ideal_learner_by_hand():
    fam = TaskFamily(n_groups=2, inputs_per_group=1, answers_per_group=4)  # inputs 0, 1; answers 2..5, 6..9
    idx = torch.tensor([[0, 3, 0, 3, 0, 4, 1, 7, 0]])  # group 0 shown 3, 3, 4; group 1 shown 7; then query 0
    answer = torch.full_like(idx, IGNORE)
    answer[0, 0::2] = torch.tensor([3, 3, 3, 7, 3])
    assert fam.ideal_accuracy(idx, answer, 0) == pytest.approx(0.25)  # nothing seen: 1 in 4
    assert fam.ideal_accuracy(idx, answer, 3) == pytest.approx(0.25)  # 3-shot query is input 1: group 1 unseen
    assert fam.ideal_accuracy(idx, answer, 4) == pytest.approx(1.0)  # 4-shot query is input 0: majority 3
    idx2 = torch.tensor([[0, 3, 0, 4, 0]])
    assert fam.ideal_accuracy(idx2, answer[:, :5], 2) == pytest.approx(0.5)  # a tie between 3 and 4
    idx3 = torch.tensor([[1, 7, 0]])
    answer3 = torch.tensor([[7, IGNORE, 3]])
    assert fam.ideal_accuracy(idx3, answer3, 1) == pytest.approx(0.25)  # other group seen only: a guess


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="data.noise"):
        Data(noise=1.0)
    with pytest.raises(ValueError, match="data.n_demos"):
        Data(n_demos=0)
