"""Parity with peft's LoRA (a test-only reference): peft wraps our own plain GPT; given the same A and B
and the same alpha / r, both adapted models give the same logits, merged and unmerged."""

import copy

import pytest
import torch
from lora.model import LoRALinear, add_lora, count_trainable, merge_lora

peft = pytest.importorskip("peft")  # the root dev group installs it; a bare paper install may not


def peft_lora_model(base, r, alpha, targets):
    cfg = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0,
                          init_lora_weights="gaussian")
    return peft.get_peft_model(copy.deepcopy(base), cfg)


def copy_adapters(ours, theirs):
    """Our A [r, in] and B [out, r] into peft's lora_A.default (Linear(in, r)) and lora_B.default (Linear(r, out))."""
    layers = {name: m for name, m in ours.named_modules() if isinstance(m, LoRALinear)}
    copied = 0
    for name, module in theirs.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            mine = layers[name.removeprefix("base_model.model.")]
            with torch.no_grad():
                module.lora_A["default"].weight.copy_(mine.lora_A)
                module.lora_B["default"].weight.copy_(mine.lora_B)
            assert module.scaling["default"] == mine.scaling  # lora_alpha / r in both
            copied += 1
    assert copied == len(layers) > 0


@pytest.mark.parametrize(("r", "alpha", "targets"), [(2, 4, ("W_q", "W_v")), (3, 3, ("W_k", "W_o", "W_2"))])
def test_same_A_and_B_give_peft_logits(tiny_gpt, ids, r, alpha, targets):
    torch.manual_seed(0)
    ours = add_lora(copy.deepcopy(tiny_gpt), targets, r=r, alpha=alpha)
    with torch.no_grad():  # a trained-looking B: with B = 0 both sides are the base model
        for layer in ours.modules():
            if isinstance(layer, LoRALinear):
                layer.lora_B.normal_(0, 0.3)
    theirs = peft_lora_model(tiny_gpt, r, alpha, targets)
    copy_adapters(ours, theirs)
    assert count_trainable(ours)[0] == sum(p.numel() for p in theirs.parameters() if p.requires_grad)
    expected = theirs(ids)
    assert not torch.allclose(expected, tiny_gpt(ids), atol=1e-3)
    torch.testing.assert_close(ours(ids), expected, atol=1e-5, rtol=1e-5)
    merged_theirs = theirs.merge_and_unload()
    merge_lora(ours)
    mine = {k.replace(".base.", "."): v for k, v in ours.state_dict().items() if "lora_" not in k}
    assert mine.keys() == merged_theirs.state_dict().keys()
    for key, value in merged_theirs.state_dict().items():  # W_0 + (alpha / r) B A, layer by layer
        torch.testing.assert_close(mine[key], value, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(ours(ids), merged_theirs(ids), atol=1e-5, rtol=1e-5)


def test_peft_untrained_adapter_is_also_the_identity(tiny_gpt, ids):
    theirs = peft_lora_model(tiny_gpt, 2, 2, ("W_q", "W_v"))
    torch.testing.assert_close(theirs(ids), tiny_gpt(ids), atol=0, rtol=0)
