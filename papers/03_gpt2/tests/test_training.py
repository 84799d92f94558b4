"""The data splits and windows, the learning-rate schedule, the optimiser groups and the claim logic."""

import math

import pytest
import torch
from gpt2.data import CharText, EvenlySpaced, RandomStarts, Windows
from gpt2.lightning import CLAIM_TARGET, GPT2LanguageModel, lm_loss, warmup_cosine


def test_windows_are_shifted_by_one_token():
    data = Windows(torch.arange(100), block_size=8)
    x, y = data[10]
    assert x.tolist() == list(range(10, 18)) and y.tolist() == list(range(11, 19))
    assert len(data) == 92  # the last start still has a target for its last position
    with pytest.raises(ValueError, match="shorter than block_size"):
        Windows(torch.arange(5), block_size=8)


def test_random_starts_depend_only_on_seed_and_epoch():
    a, b = RandomStarts(1000, 50, seed=1), RandomStarts(1000, 50, seed=1)
    assert list(a) == list(b) and len(list(a)) == 50
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and max(a) < 1000
    b.set_epoch(1)
    assert list(a) == list(b)


def test_evenly_spaced_windows_are_fixed_and_cover_the_split():
    starts = list(EvenlySpaced(1000, 5))
    assert starts == [0, 249, 499, 749, 999] and starts == list(EvenlySpaced(1000, 5))


def test_splits_are_contiguous_and_disjoint(small_corpus):
    dm = CharText(text_file=str(small_corpus), block_size=16)
    dm.setup()
    parts = [dm.splits[s] for s in ("train", "val", "test")]
    n = sum(len(p) for p in parts)
    assert len(parts[0]) == int(0.9 * n) and len(parts[1]) == int(0.05 * n)
    assert dm.tokenizer.decode(torch.cat(parts)) == small_corpus.read_text()  # in order, nothing lost
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == y.shape == (32, 16)


def test_bad_data_settings_are_rejected(small_corpus):
    with pytest.raises(ValueError, match="data.batch_size must be >= 1"):
        CharText(text_file=str(small_corpus), batch_size=0)
    with pytest.raises(FileNotFoundError, match="text file not found"):
        CharText(text_file="/no/such/file.txt")


def test_lm_loss_of_a_uniform_model_is_log_vocab():
    assert lm_loss(torch.zeros(2, 5, 81), torch.zeros(2, 5, dtype=torch.long)).item() == pytest.approx(math.log(81))


def test_warmup_then_cosine_to_the_floor():
    lrs = [warmup_cosine(s, 10, 110, lr=1e-3, min_lr=1e-4) for s in range(120)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)  # linear warmup
    assert lrs[60] == pytest.approx(5.5e-4)  # halfway down the cosine: the mean of lr and min_lr
    assert lrs[110] == pytest.approx(1e-4) and lrs[119] == pytest.approx(1e-4)  # then stays at the floor
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))


def test_both_models_see_the_same_batch_and_train_independently():
    module = GPT2LanguageModel(vocab_size=30, n_ctx=16, d_model=32, n_heads=4, n_layers=2, small_d_model=16,
                               small_n_heads=2, small_n_layers=1)
    assert set(module.models) == {"main", "small"}
    assert module.param_counts()["main"] > module.param_counts()["small"]
    x = torch.randint(0, 30, (4, 16))
    losses = module._losses((x, x))
    losses["small"].backward()  # the small model's loss moves only the small model
    assert all(p.grad is None for p in module.models["main"].parameters())
    assert all(p.grad is not None for p in module.models["small"].parameters())


def test_a_checkpoint_loads_with_load_from_checkpoint(tmp_path):
    import lightning as L

    module = GPT2LanguageModel(vocab_size=30, n_ctx=16, d_model=32, n_heads=4, n_layers=2, small_d_model=16,
                               small_n_heads=2, small_n_layers=1)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=0)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = GPT2LanguageModel.load_from_checkpoint(tmp_path / "m.ckpt", map_location="cpu")  # no trainer attached
    assert set(loaded.models) == {"main", "small"}
    for (name, a), b in zip(module.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_claim_needs_both_the_target_and_the_size_ordering():
    below, above = CLAIM_TARGET - 0.1, CLAIM_TARGET + 0.1
    claim = GPT2LanguageModel.claim
    assert claim({"test/loss": below, "test/loss_small": below + 0.05})["holds"] is True
    assert claim({"test/loss": below, "test/loss_small": below - 0.05})["holds"] is False  # larger is worse
    assert claim({"test/loss": above, "test/loss_small": above + 0.05})["holds"] is False  # above the target
    assert claim({"test/loss": below})["holds"] is True  # main model alone
    assert claim({})["holds"] is False
