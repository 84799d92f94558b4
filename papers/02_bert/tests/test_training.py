"""The training recipe: the pre-training loss, the learning-rate schedule, weight-decay groups, the claim."""

import math

import pytest
import torch
from bert.lightning import CLAIM_MARGIN, BertPretrainFinetune, decay_groups, pretraining_loss, warmup_linear_decay
from bert.model import BertConfig, BertForPreTraining


def test_pretraining_loss_is_the_sum_of_mlm_and_nsp():
    torch.manual_seed(0)
    mlm_logits, nsp_logits = torch.randn(5, 11), torch.randn(3, 2)
    targets, is_next = torch.tensor([1, 4, 4, 9, 0]), torch.tensor([1, 0, 1])
    total, mlm, nsp = pretraining_loss(mlm_logits, nsp_logits, targets, is_next)
    assert mlm.item() == pytest.approx(-mlm_logits.log_softmax(-1)[range(5), targets].mean().item(), rel=1e-6)
    assert nsp.item() == pytest.approx(-nsp_logits.log_softmax(-1)[range(3), is_next].mean().item(), rel=1e-6)
    assert total.item() == pytest.approx(mlm.item() + nsp.item())
    # A uniform guess costs log(vocab) + log(2): the starting point of a fresh model.
    total, _, _ = pretraining_loss(torch.zeros(5, 11), torch.zeros(3, 2), targets, is_next)
    assert total.item() == pytest.approx(math.log(11) + math.log(2))


def test_warmup_then_linear_decay():
    values = [warmup_linear_decay(s, total=100, warmup=0.1) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)  # 10 warmup steps
    assert values[10] == pytest.approx(1.0) and values[55] == pytest.approx(0.5) and values[99] == pytest.approx(1 / 90)
    assert warmup_linear_decay(100, 100, 0.1) == 0.0 and warmup_linear_decay(-1, 100, 0.1) == 0.0
    assert warmup_linear_decay(0, 0, 0.1) == 0.0  # no fine-tuning epochs: rate 0, no crash


def test_weight_decay_skips_biases_and_layer_norms():
    model = BertForPreTraining(BertConfig(vocab_size=30, d_model=8, n_heads=2, d_ff=16, n_layers=1, max_len=8))
    decay, no_decay = decay_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    norms = [p for n, p in model.named_parameters() if "norm" in n]
    assert norms and all(any(p is q for q in no_decay["params"]) for p in norms)
    n_total = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == n_total  # every parameter once


def test_claim_is_the_accuracy_gain_over_random_init():
    out = BertPretrainFinetune.claim({"test/accuracy_pretrained": 0.80, "test/accuracy_random": 0.55})
    assert out["value"] == pytest.approx(0.25) and out["holds"] is True
    out = BertPretrainFinetune.claim({"test/accuracy_pretrained": 0.56, "test/accuracy_random": 0.55})
    assert out["threshold"] == CLAIM_MARGIN == 0.02 and out["holds"] is False
    assert BertPretrainFinetune.claim({"test/accuracy_pretrained": 0.5})["holds"] is False  # missing metric: nan


@pytest.mark.parametrize("kwargs, message", [
    ({"pretrain_epochs": -1}, "model.pretrain_epochs must be >= 0"),
    ({"lr": 0.0}, "model.lr must be > 0"),
    ({"warmup": 1.0}, r"model.warmup must be in \[0, 1\)"),
    ({"d_model": 30}, r"d_model \(30\) must be divisible by n_heads \(4\)"),
])
def test_impossible_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BertPretrainFinetune(**kwargs)
