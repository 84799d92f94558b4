"""LoRA's invariants (Section 4.1) and the base model's, on a tiny GPT."""

import copy

import pytest
import torch
from lora.data import TwoDomains, to_domain
from lora.model import (
    GPT,
    GPTConfig,
    LoRALinear,
    add_lora,
    count_trainable,
    lm_loss,
    lora_param_share,
    lora_state_dict,
    merge_lora,
    subspace_similarity,
    unmerge_lora,
)


def trained_adapters(model):
    """Give every B a random value, as if the adapter had been trained (B = 0 hides every bug)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(0, 0.5)
    return model


def test_logits_shape(tiny_gpt, ids, tiny_cfg):
    assert tiny_gpt(ids).shape == (3, 12, tiny_cfg.vocab_size)


def test_causal_mask_hides_future(tiny_gpt, ids):
    changed = ids.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 23
    torch.testing.assert_close(tiny_gpt(ids)[:, :7], tiny_gpt(changed)[:, :7])
    assert not torch.allclose(tiny_gpt(ids)[:, 7:], tiny_gpt(changed)[:, 7:])


def test_untrained_adapter_is_the_identity(tiny_gpt, ids):
    before = tiny_gpt(ids)
    adapted = add_lora(copy.deepcopy(tiny_gpt), ("W_q", "W_k", "W_v", "W_o", "W_1", "W_2"), r=4, alpha=8)
    assert all(layer.lora_A.abs().sum() > 0 for layer in adapted.modules() if isinstance(layer, LoRALinear))
    torch.testing.assert_close(adapted(ids), before, rtol=0, atol=0)  # B = 0: Delta W x is exactly 0


def test_init_is_gaussian_A_and_zero_B():
    torch.manual_seed(0)
    layer = LoRALinear(torch.nn.Linear(256, 128), r=8, alpha=16)
    assert layer.lora_A.shape == (8, 256) and layer.lora_B.shape == (128, 8)
    assert torch.all(layer.lora_B == 0)
    assert abs(layer.lora_A.mean().item()) < 0.01 and abs(layer.lora_A.std().item() - 1 / 8) < 0.01
    assert layer.scaling == 2.0  # alpha / r


def test_adapted_output_is_W0x_plus_scaled_BAx():
    torch.manual_seed(0)
    base = torch.nn.Linear(6, 5)
    layer = LoRALinear(base, r=2, alpha=3)
    torch.nn.init.normal_(layer.lora_B)
    x = torch.randn(4, 6)
    expected = x @ base.weight.T + base.bias + (3 / 2) * x @ (layer.lora_B @ layer.lora_A).T
    torch.testing.assert_close(layer(x), expected)


def test_merged_outputs_equal_unmerged(tiny_gpt, ids):
    model = trained_adapters(add_lora(copy.deepcopy(tiny_gpt), r=2, alpha=4))
    w0 = tiny_gpt.blocks[0].attn.W_q.weight.clone()
    unmerged = model(ids)
    assert not torch.allclose(unmerged, tiny_gpt(ids), atol=1e-3)  # the adapter does change the output
    merge_lora(model)
    assert not torch.allclose(model.blocks[0].attn.W_q.base.weight, w0)  # W = W_0 + (alpha/r) B A
    torch.testing.assert_close(model(ids), unmerged, atol=1e-5, rtol=1e-5)
    merge_lora(model)  # merging twice must not add B A twice
    torch.testing.assert_close(model(ids), unmerged, atol=1e-5, rtol=1e-5)
    unmerge_lora(model)
    torch.testing.assert_close(model.blocks[0].attn.W_q.base.weight, w0, atol=1e-6, rtol=0)
    torch.testing.assert_close(model(ids), unmerged, atol=1e-5, rtol=1e-5)


def test_only_A_and_B_receive_gradients_and_change(tiny_gpt, ids):
    model = trained_adapters(add_lora(copy.deepcopy(tiny_gpt), r=2, alpha=2))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"blocks.{i}.attn.{w}.lora_{m}" for i in range(2) for w in ("W_q", "W_v") for m in "AB"}
    before = {n: p.clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        lm_loss(model, ids).backward()
        opt.step()
    for name, p in model.named_parameters():
        if name in trainable:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
            assert not torch.equal(p, before[name]), name
        else:
            assert p.grad is None, name
            assert torch.equal(p, before[name]), name


def test_targets_pick_any_linear_and_count(tiny_gpt, tiny_cfg):
    model = add_lora(copy.deepcopy(tiny_gpt), ("W_1", "W_o"), r=3, alpha=3)
    assert isinstance(model.blocks[1].W_1, LoRALinear) and isinstance(model.blocks[1].attn.W_o, LoRALinear)
    assert not isinstance(model.blocks[1].attn.W_q, LoRALinear)
    trainable, total = count_trainable(model)
    d, d_ff = tiny_cfg.d_model, tiny_cfg.d_ff
    assert trainable == 2 * (3 * (d + d_ff) + 3 * (d + d))  # per block: W_1 [d -> d_ff] and W_o [d -> d]
    assert total == sum(p.numel() for p in tiny_gpt.parameters()) + trainable
    assert set(lora_state_dict(model)) == {n for n, p in model.named_parameters() if p.requires_grad}


def test_default_model_adapter_share_is_under_two_percent():
    cfg = GPTConfig(vocab_size=81)  # the default run's base model
    model = add_lora(GPT(cfg), r=4, alpha=4)  # the default rank
    trainable, total = count_trainable(model)
    base = total - trainable
    assert trainable == 2 * 2 * 2 * 4 * 64  # 2 blocks x (W_q, W_v) x (A and B: 2 r d)
    assert trainable / base == pytest.approx(lora_param_share(64, 2, 4, 2, base))
    assert trainable / base < 0.02


def test_default_new_domain_uses_only_characters_pretraining_reads():
    # The default domain ("lower") must be reachable by adapters on W_q and W_v: every character of
    # the new-domain text is one the pre-training text contains, so no input embedding is untrained.
    # (The "upper" setting uses pre-training characters too, but capitals there mostly start names and
    # lines; inside words they are new to the model: notes, section 8.)
    dm = TwoDomains()
    assert dm.hparams.domain == "lower"
    pre, adapt, val, test = dm.split_text()
    seen = set(pre)
    assert set(adapt + val + test) <= seen
    assert not any(c.isupper() for c in adapt)
    assert to_domain("To BE, or not", "lower") == "to be, or not"


def test_bad_settings_are_errors(tiny_gpt):
    with pytest.raises(ValueError, match="rank r must be >= 1"):
        LoRALinear(torch.nn.Linear(4, 4), r=0, alpha=1)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        LoRALinear(torch.nn.Linear(4, 4), r=1, alpha=0)
    with pytest.raises(ValueError, match="W_x"):
        add_lora(copy.deepcopy(tiny_gpt), ("W_q", "W_x"))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(vocab_size=5, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match=r"ids must be \[batch, seq\]"):
        tiny_gpt(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="n_positions"):
        tiny_gpt(torch.zeros(1, 17, dtype=torch.long))


def test_subspace_similarity_bounds():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 32, generator=g)
    assert subspace_similarity(A, A, 4, 4) == pytest.approx(1.0)
    assert subspace_similarity(A, 3 * A, 2, 2) == pytest.approx(1.0)  # a subspace, not a scale
    # A larger adapter whose rows span A's: every top-i direction of A lies in it.
    A_big = torch.cat([A, torch.randn(4, 32, generator=g)])
    assert subspace_similarity(A, A_big, 4, 8) == pytest.approx(1.0)
    # Orthogonal row spaces: 0.
    q = torch.linalg.qr(torch.randn(32, 8, generator=g)).Q.T  # [8, 32] orthonormal rows
    assert subspace_similarity(q[:4], q[4:], 4, 4) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="i <= 4"):
        subspace_similarity(A, A, 5, 1)
