"""Unit tests for every helper in shared/."""

import json
import random

import lightning as L
import numpy as np
import pytest
import torch
from shared.callbacks import FiniteLossGuard, NonFiniteLossError, RNGStateCheckpoint
from shared.data import CharTokenizer, EpochSeededSampler, load_digits_tensors, load_shakespeare
from shared.data.char_windows import CharWindowsData, FirstOfEpoch, Windows
from shared.data.text import list_plays, load_text_file, split_train_val
from shared.figures import attention_heatmap, plot_training_curves, save_figure, use_style
from shared.loggers import LOGGERS, ResumableCSVLogger, make_loggers
from shared.runs import find_last_checkpoint, new_run_dir
from torch.utils.data import DataLoader, TensorDataset

from shared import read_results, seed_everything, write_results


def test_seed_everything_repeats_all_generators():
    seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        seed_everything(-1)


def test_run_dirs_are_unique_and_last_checkpoint_is_found(tmp_path):
    a, b = new_run_dir(tmp_path, "p"), new_run_dir(tmp_path, "p")
    assert a != b and a.parent == b.parent == tmp_path / "p"
    with pytest.raises(FileNotFoundError, match="no earlier run"):
        find_last_checkpoint(tmp_path, "p")
    (b / "checkpoints").mkdir()
    (b / "checkpoints" / "last.ckpt").write_text("x")
    assert find_last_checkpoint(tmp_path, "p") == b / "checkpoints" / "last.ckpt"
    with pytest.raises(FileNotFoundError, match="run 'zzz' has no checkpoint"):
        find_last_checkpoint(tmp_path, "p", "zzz")
    with pytest.raises(ValueError, match="plain folder name"):
        new_run_dir(tmp_path, "p", "../escape")


def test_results_json_roundtrip(tmp_path):
    write_results(tmp_path, {"acc": torch.tensor(0.5), "bad": float("nan")}, claim={"holds": True})
    out = read_results(tmp_path)
    assert out["metrics"] == {"acc": 0.5, "bad": "nan"} and out["claim"] == {"holds": True}
    assert "torch" in out["machine"]
    json.loads((tmp_path / "results.json").read_text())  # strict JSON: no NaN literal
    with pytest.raises(FileNotFoundError):
        read_results(tmp_path / "missing")


def test_loggers(tmp_path):
    assert [type(lg).__name__ for lg in make_loggers("csv", tmp_path, "p")] == ["ResumableCSVLogger"]
    assert make_loggers("none", tmp_path, "p") == []
    assert set(LOGGERS) == {"csv", "tensorboard", "wandb", "none"}
    with pytest.raises(ValueError, match="unknown logger 'mlflow'"):
        make_loggers("mlflow", tmp_path, "p")
    with pytest.raises(ValueError, match="disabled in tests"):
        make_loggers("wandb", tmp_path, "p")


def test_csv_logger_appends_when_resumed(tmp_path):
    first = ResumableCSVLogger(save_dir=tmp_path, name="", version="")
    first.log_metrics({"a": 1.0}, step=0)
    first.save()
    second = ResumableCSVLogger(save_dir=tmp_path, name="", version="")
    second.log_metrics({"a": 2.0, "b": 3.0}, step=1)
    second.save()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "a,b,step" and len(lines) == 3


class _Tiny(L.LightningModule):
    def __init__(self, lr=0.1):
        super().__init__()
        self.lr = lr
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        return loss * float("inf") if self.lr > 1 else loss  # lr > 1 plays "the run diverged"

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _loader():
    return DataLoader(TensorDataset(torch.randn(16, 2), torch.randn(16, 1)), batch_size=4)


def test_finite_loss_guard_stops_with_a_clear_message():
    trainer = L.Trainer(max_epochs=1, callbacks=[FiniteLossGuard()], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(NonFiniteLossError, match="training loss became inf at epoch 0, step"):
        trainer.fit(_Tiny(lr=10.0), _loader())


def test_rng_state_checkpoint_restores_generators():
    cb = RNGStateCheckpoint()
    seed_everything(1)
    state = cb.state_dict()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    cb.load_state_dict(state)
    cb.on_train_start(None, None)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_epoch_seeded_sampler_depends_only_on_seed_and_epoch():
    s = EpochSeededSampler(range(10), seed=3)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert sorted(first) == list(range(10)) and first != second
    again = EpochSeededSampler(range(10), seed=3)
    again.set_epoch(1)
    assert list(again) == second
    assert list(EpochSeededSampler(range(4), shuffle=False)) == [0, 1, 2, 3]


def test_shakespeare_and_char_tokenizer(tmp_path):
    assert "hamlet" in list_plays() and len(list_plays()) == 38
    text = load_shakespeare(("hamlet",))
    assert "HAMLET:" in text and "**" not in text and "#" not in text
    assert len(load_shakespeare()) > 4_000_000
    tok = CharTokenizer.fit(text)
    assert tok.decode(tok.encode("To be, or not")) == "To be, or not"
    tok.save(tmp_path / "vocab.json")
    assert CharTokenizer.load(tmp_path / "vocab.json").chars == tok.chars
    with pytest.raises(ValueError, match="not in the tokenizer's vocabulary"):
        tok.encode("\u2603")
    with pytest.raises(ValueError, match="unknown play 'hamlett'"):
        load_shakespeare(("hamlett",))
    train, val = split_train_val(tok.encode(text[:1000]), 0.1)
    assert len(train) == 900 and len(val) == 100
    with pytest.raises(FileNotFoundError, match="text file not found"):
        load_text_file(tmp_path / "nope.txt")


def test_char_windows_split_shift_and_draw(tmp_path):
    ids = torch.arange(21)
    w = Windows(ids, block_size=4)  # (21 - 1) // 4 = 5 windows of 4 inputs, 4 targets
    assert len(w) == 5
    x, y = w[1]
    assert x.tolist() == [4, 5, 6, 7] and y.tolist() == [5, 6, 7, 8]
    with pytest.raises(ValueError, match="shorter than one window"):
        Windows(torch.arange(4), block_size=4)
    sampler = FirstOfEpoch(w, count=3, seed=0)
    first = list(sampler)
    assert len(first) == len(sampler) == 3 and len(set(first)) == 3
    sampler.set_epoch(1)
    assert list(sampler) != first  # a fresh draw each epoch
    text_file = tmp_path / "t.txt"
    text_file.write_text("abcdefghij" * 2000)
    data = CharWindowsData(block_size=8, batch_size=2, train_windows=5, val_windows=3, test_windows=2,
                           text_file=str(text_file))
    data.setup()
    assert data.vocab_size == 10 and len(data.val_set) == 3 and len(data.test_set) == 2
    assert len(data.train_set) == (18_000 - 1) // 8  # the first 90% of the 20,000 characters
    assert sum(1 for _ in data.train_dataloader()) == 2  # 5 windows drawn, batches of 2, last dropped
    with pytest.raises(ValueError, match="data.val_windows must be >= 1, got 0"):
        CharWindowsData(val_windows=0, text_file=str(text_file))


def test_digits_are_offline_stratified_and_scaled():
    x_tr, y_tr, x_te, y_te = load_digits_tensors(test_fraction=0.2, seed=0)
    assert x_tr.shape[1:] == (1, 8, 8) and len(x_tr) + len(x_te) == 1797
    assert 0.0 <= x_tr.min() and x_tr.max() <= 1.0
    assert set(y_te.tolist()) == set(range(10))
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_tensors(test_fraction=1.5)


def test_figures(tmp_path):
    import matplotlib.pyplot as plt

    use_style()
    fig, ax = plt.subplots()
    attention_heatmap(ax, torch.softmax(torch.randn(2, 3), -1), ["a", "b", "c"], ["x", "y"])
    assert save_figure(fig, tmp_path / "sub" / "a.png").stat().st_size > 1000
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="does not match labels"):
        attention_heatmap(ax, torch.zeros(2, 2), ["a"], ["x", "y"])
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text("epoch,step,train/loss,val/loss\n0,1,2.0,\n0,2,1.5,1.7\n")
    assert plot_training_curves(csv_path, tmp_path / "c.png").is_file()
    csv_path.write_text("epoch,step,test/loss\n0,1,2.0\n")
    assert plot_training_curves(csv_path, tmp_path / "d.png") is None


def _metrics_csv(path, names: list[str], steps: int = 40, val_every: int = 10):
    """A Lightning-style metrics.csv: a train row per step, a val row every `val_every` steps."""
    columns = ["epoch", "step"] + [f"{stage}/{n}" for stage in ("train", "val") for n in names]
    lines = [",".join(columns)]
    for step in range(steps):
        lines.append(",".join(["0", str(step)] + [f"{2.0 / (step + 1 + i):.4f}" for i in range(len(names))]
                              + [""] * len(names)))
        if (step + 1) % val_every == 0:
            lines.append(",".join(["0", str(step)] + [""] * len(names)
                                  + [f"{2.2 / (step + 1 + i):.4f}" for i in range(len(names))]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("n_metrics", [1, 2, 15])
def test_training_curves_is_a_readable_grid(tmp_path, n_metrics):
    """Many metrics (paper 12 logs 15) make a grid of at most 4 columns, not one row 8,000 px wide."""
    from PIL import Image

    # Paper 12's names: {rnn, mlp, mlp1} x {none, batch, layer}, losses and the MLPs' accuracies.
    names = [f"{g}_{n}_{m}" for g in ("rnn", "mlp", "mlp1") for n in ("none", "batch", "layer")
             for m in ("loss", "accuracy") if not (g == "rnn" and m == "accuracy")]
    assert len(names) == 15
    names = names[:n_metrics]
    png = plot_training_curves(_metrics_csv(tmp_path / "metrics.csv", names), tmp_path / "curves.png")
    width, height = Image.open(png).size
    columns = min(n_metrics, 4)
    rows = -(-n_metrics // columns)
    assert 300 * columns <= width < 2000, (width, height)  # about 4 inches a panel, readable, not huge
    assert 250 * rows <= height < 400 * rows + 100, (width, height)
    assert 0.5 < (width / columns) / (height / rows) < 2.5  # each panel about 4 x 3


def test_long_metric_names_are_wrapped_at_underscores():
    from shared.figures import _wrap_name

    name = "mlp1_layer_mean_train_loss_after_the_warmup_phase_ends"
    lines = _wrap_name(name).splitlines()
    assert len(lines) == 2 and all(len(line) <= 37 for line in lines)
    assert "".join(lines) == name  # nothing lost: the break follows an underscore
    assert _wrap_name("loss") == "loss"


def test_paper_text_matches_phrases_across_line_breaks(tmp_path):
    from shared.testing import PaperText

    folder = tmp_path / "07_toy_paper"
    (folder / "toy_paper").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "notes.md").write_text("The scores are 1.4142,\nthen 0.7071.\n")
    (folder / "article.md").write_text("An article.\n")
    (folder / "README.md").write_text("A readme.\n")
    (folder / "toy_paper" / "model.py").write_text("x = 1\n")
    text = PaperText.of(folder / "tests" / "test_notes_numbers.py")
    text.in_notes("scores are 1.4142, then 0.7071.")
    text.in_article("An article.")
    text.in_readme("A readme.")
    assert text.source("model") == "x = 1\n"
    with pytest.raises(AssertionError, match="0.7072"):
        text.in_notes("then 0.7072")


def test_pytest_plugin_gives_an_xdist_worker_one_thread(monkeypatch):
    import os
    from types import SimpleNamespace

    from shared.pytest_plugin import pytest_configure

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        pytest_configure(SimpleNamespace())  # the controlling process: untouched
        assert "OMP_NUM_THREADS" not in os.environ
        pytest_configure(SimpleNamespace(workerinput={"workerid": "gw0"}))
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)


def test_paper_text_holds_the_maths_table_and_excerpts_to_the_code(tmp_path):
    import textwrap
    import types

    from shared.testing import PaperText

    module = types.ModuleType("toy_model")
    source = "def softmax(x):\n    e = x.exp()\n    return e / e.sum()\n"
    path = tmp_path / "toy_model.py"
    path.write_text(source)
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    folder = tmp_path / "07_toy"
    folder.mkdir()
    table = ("## 6. From maths to code\n\n| equation | function | line |\n|---|---|---|\n"
             "| softmax | `softmax` | `e / e.sum()` |\n")
    (folder / "notes.md").write_text(table + "\n## 7. Next\n")
    (folder / "article.md").write_text("```python\n    e = x.exp()\n    return e / e.sum()\n```\n")
    text = PaperText(folder)
    assert text.check_maths_to_code("6. From maths to code", [module], min_rows=1) == 1
    text.check_article_excerpts([module], min_blocks=1)
    (folder / "notes.md").write_text(table.replace("e / e.sum()", "e / e.max()"))
    with pytest.raises(AssertionError, match="e / e.max"):
        PaperText(folder).check_maths_to_code("6. From maths to code", [module], min_rows=1)
    (folder / "article.md").write_text(textwrap.dedent("```python\nreturn e / e.max()\n```\n"))
    with pytest.raises(AssertionError, match="not a contiguous piece"):
        PaperText(folder).check_article_excerpts([module], min_blocks=1)
