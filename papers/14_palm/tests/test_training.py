"""The training recipe (Section 5): z-loss, the unfactored Adafactor and its schedule; the data."""

import math

import pytest
import torch
import torch.nn.functional as F
from palm.data import ALPHABET, ShakespeareData, Windows
from palm.lightning import PaLMLanguageModel, palm_loss
from palm.optim import PaLMAdafactor, palm_lr


def test_z_loss_by_hand():
    logits = torch.tensor([[[2.0, 1.0, 0.0]]])
    target = torch.tensor([[0]])
    log_z = math.log(math.exp(2) + math.exp(1) + 1)  # 2.4076
    total, ce, z_term = palm_loss(logits, target, z_loss=1e-4)
    assert ce.item() == pytest.approx(log_z - 2.0)
    assert z_term.item() == pytest.approx(1e-4 * log_z**2)
    assert total.item() == pytest.approx(log_z - 2.0 + 1e-4 * log_z**2)


def test_cross_entropy_part_matches_pytorch_and_ignores_a_logit_shift():
    torch.manual_seed(0)
    logits, target = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    _, ce, z = palm_loss(logits, target)
    torch.testing.assert_close(ce, F.cross_entropy(logits.transpose(1, 2), target))
    _, ce_shifted, z_shifted = palm_loss(logits + 3.0, target)
    torch.testing.assert_close(ce_shifted, ce)  # cross-entropy cannot see where log Z sits ...
    assert z_shifted > z  # ... the z-loss can


def test_z_loss_gradient_pulls_log_z_towards_zero():
    logits = torch.full((1, 1, 4), 2.0, requires_grad=True)  # log Z = 2 + log 4 > 0
    _, _, z_term = palm_loss(logits, torch.tensor([[0]]))
    z_term.backward()
    assert torch.all(logits.grad > 0)  # gradient descent lowers every logit, so log Z falls


def test_learning_rate_schedule_is_constant_then_inverse_sqrt():
    assert palm_lr(1) == palm_lr(10_000) == 1e-2
    assert palm_lr(40_000) == pytest.approx(0.5e-2)
    assert palm_lr(90_000) == pytest.approx(1 / math.sqrt(90_000))  # 1/sqrt(k) after 10,000 steps


def test_first_adafactor_step_by_hand():
    # Step 1: beta2 = 0 so v = g^2 and u = sign(g) (RMS 1: no clipping); m = 0.1 u; the step is
    # lr * RMS(p) * m, after the weight decay p * (1 - lr^2).
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(4, 5) * 0.3)
    g = torch.randn(4, 5)
    p.grad = g.clone()
    before = p.detach().clone()
    PaLMAdafactor([p], lr=1e-2).step()
    rms_p = before.pow(2).mean().sqrt()
    want = before * (1 - 1e-4) - 1e-2 * rms_p * 0.1 * g.sign()
    torch.testing.assert_close(p.detach(), want)


def test_update_clipping_bounds_the_step():
    p = torch.nn.Parameter(torch.ones(3))
    opt = PaLMAdafactor([p], lr=1e-2, weight_decay=False)
    p.grad = torch.tensor([1.0, 1.0, 1.0])
    opt.step()
    p.grad = torch.tensor([1e6, 0.0, 0.0])  # a sudden huge gradient on one element
    before = p.detach().clone()
    opt.step()
    # u = g / sqrt(v) has RMS above 1 here and is scaled back to RMS 1 before momentum.
    step = (before - p.detach()) / 1e-2
    assert step.abs().max() < 1.0


@pytest.mark.parametrize("kwargs, message", [({"lr": 0}, "lr must be > 0"), ({"beta1": 1.0}, "beta1"),
                                             ({"constant_steps": 0}, "constant_steps")])
def test_impossible_optimizer_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PaLMAdafactor([torch.nn.Parameter(torch.ones(2))], **kwargs)


def test_models_start_from_the_same_weights():
    module = PaLMLanguageModel(d_model=16, n_heads=4, n_layers=2)
    par, ser = (dict(module.models[b].named_parameters()) for b in ("parallel", "serial"))
    shared = [n for n in par if n in ser]
    assert "embed.weight" in shared and "blocks.1.mlp.W_2.weight" in shared
    for name in shared:
        assert torch.equal(par[name], ser[name]), name
    assert set(ser) - set(par) == {f"blocks.{i}.norm{j}.weight" for i in range(2) for j in (1, 2)}


@pytest.mark.parametrize("kwargs, message", [({"blocks": ["parallel", "parallel"]}, "model.blocks"),
                                             ({"blocks": ["sideways"]}, "model.blocks"),
                                             ({"z_loss": -1.0}, "model.z_loss"), ({"lr": 0.0}, "model.lr")])
def test_impossible_module_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PaLMLanguageModel(**kwargs)


def test_windows_are_next_character_pairs_without_overlap():
    ids = torch.arange(23)
    w = Windows(ids, seq_len=5)
    assert len(w) == 4
    assert w[1].tolist() == [5, 6, 7, 8, 9, 10]  # input 5..9, targets 6..10
    assert Windows(ids, seq_len=5, limit=2).starts == [0, 15]  # spread over the split
    with pytest.raises(ValueError, match="shorter than one window"):
        Windows(torch.arange(4), seq_len=5)


def test_splits_are_contiguous_and_disjoint():
    dm = ShakespeareData(plays=["macbeth"], seq_len=64, val_windows=8)
    dm.setup()
    text = dm.load_text()
    n = len(text)
    assert len(dm.train_set.ids) == int(n * 0.9)
    assert len(dm.train_set.ids) + len(dm.val_set.ids) + len(dm.test_set.ids) == n
    assert len(dm.val_set) == 8 and len(dm.test_set) == (len(dm.test_set.ids) - 1) // 64
    assert "".join(ALPHABET[i] for i in dm.train_set[0][:8].tolist()) == text[:8]


def test_bad_data_input_gives_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="text file not found"):
        ShakespeareData(text_file=str(tmp_path / "missing.txt")).setup()
    odd = tmp_path / "odd.txt"
    odd.write_text("caf\u00e9 " * 400)
    with pytest.raises(ValueError, match="not in the tokenizer's vocabulary"):
        ShakespeareData(text_file=str(odd)).setup()
    with pytest.raises(ValueError, match="unknown play"):
        ShakespeareData(plays=["hamlet-ii"]).setup()
    with pytest.raises(ValueError, match="data.seq_len must be >= 1"):
        ShakespeareData(seq_len=0)
