"""The networks, the sampler, the labeler, the data and one PPO step of the LightningModule."""

import random

import pytest
import torch
from instructgpt import labeler
from instructgpt.data import DIGIT0, EOS, PAD, TASKS, Data, decode_prompt, demonstration, encode_prompt
from instructgpt.lightning import Module
from instructgpt.model import GPT, GPTConfig, Policy, sample


def d(*digits):
    return [DIGIT0 + x for x in digits]


def test_causal_mask_hides_future_tokens():
    torch.manual_seed(0)
    policy = Policy(GPTConfig(vocab_size=17, n_ctx=13, d_model=16, n_heads=2))
    x = torch.randint(0, 17, (2, 10))
    y = x.clone()
    y[:, 6:] = torch.randint(0, 17, (2, 4))
    torch.testing.assert_close(policy(x)[:, :6], policy(y)[:, :6])


def test_bad_config_and_input_are_one_line_errors():
    with pytest.raises(ValueError, match="divisible by model.n_heads"):
        GPTConfig(vocab_size=17, n_ctx=13, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="tokens must be"):
        GPT(GPTConfig(vocab_size=17, n_ctx=4, d_model=8, n_heads=2))(torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="model.beta"):
        Module(beta=-1)


def test_sample_pads_after_end_of_text_and_masks_it_out():
    policy = Policy(GPTConfig(vocab_size=17, n_ctx=13, d_model=16, n_heads=2))
    with torch.no_grad():  # make end-of-text the only likely token
        policy.unembed.weight.zero_()
        policy.unembed.weight[EOS] = 0
    policy.unembed.weight.data[:, 0] = -50.0
    policy.unembed.weight.data[EOS, 0] = 50.0
    policy.body.ln_f.bias.data.fill_(1.0)
    policy.body.ln_f.weight.data.zero_()  # hidden = all ones: logits = 50 for EOS, -50 elsewhere
    tokens, mask = sample(policy, torch.ones(3, 6, dtype=torch.long), 7, EOS, PAD, torch.Generator().manual_seed(0))
    assert tokens[:, 6].tolist() == [EOS] * 3 and (tokens[:, 7:] == PAD).all()
    assert mask.tolist() == [[1, 0, 0, 0, 0, 0, 0]] * 3


def test_labeler_prefers_correct_then_ended_then_concise():
    prompt = encode_prompt("sort", [3, 1, 2], 3)
    good, repeated, wrong = d(1, 2, 3) + [EOS], d(1, 2, 3, 1, 2, 3) + [EOS], d(1, 3, 2) + [EOS]
    unfinished = d(1, 2, 3, 3, 3, 3, 3)
    keys = [labeler.judge(prompt, r) for r in (good, repeated, unfinished, wrong)]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 4
    assert labeler.judge(prompt, good) == (1, 3, 1, 0)
    p, pad = torch.tensor([prompt] * 2), [PAD] * 3
    a, b = torch.tensor([good + pad, wrong + pad]), torch.tensor([repeated, wrong + pad])
    assert labeler.compare(p, a, b).tolist() == [1.0, 0.0]


def test_demonstrations_are_correct_and_repeat_at_the_chosen_rate():
    rng = random.Random(0)
    demos = [demonstration("reverse", [1, 2, 3], 3, rng, p_repeat=0.5) for _ in range(2000)]
    assert all(x in (d(3, 2, 1) + [EOS] + [PAD] * 3, d(3, 2, 1, 3, 2, 1) + [EOS]) for x in demos)
    assert sum(x[3] != EOS for x in demos) / 2000 == pytest.approx(0.5, abs=0.03)
    assert decode_prompt(encode_prompt("max", [4, 7], 3)) == ("max", [4, 7])
    assert set(TASKS) == {"sort", "reverse", "max"}


def test_held_out_prompts_never_appear_in_training():
    dm = Data(n_train=500, n_val=100, n_test=200)
    dm.setup()
    sets = [{tuple(p) for p in s.tensors[0].tolist()} for s in (dm.train_set, dm.val_set, dm.test_set)]
    assert [len(s) for s in sets] == [500, 100, 200]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    with pytest.raises(ValueError, match="data.max_digits"):
        Data(max_digits=1)


def test_one_ppo_step_changes_every_trainable_parameter_and_nothing_frozen():
    torch.manual_seed(0)
    m = Module(d_model=16, n_heads=2, n_layers=1, ppo_epochs=2)
    m.ref.load_state_dict(m.policy.state_dict())
    m.value.load_state_dict(m.reward_model.state_dict())
    dm = Data(n_train=64, n_val=8, n_test=8)
    dm.setup()
    prompts, demos = dm.train_set.tensors[0][:16], dm.train_set.tensors[1][:16]
    m._ppo_loss(prompts, demos, 0)  # make the rollout; the step below is its second (clipped) update
    opt = m.configure_optimizers()[2]
    trained = {n: p.detach().clone() for n, p in m.named_parameters() if p.requires_grad
               and (n.startswith("policy.") or n.startswith("value."))}
    frozen = {n: p.detach().clone() for n, p in m.named_parameters() if n.startswith(("ref.", "reward_model."))}
    loss = m._ppo_loss(prompts, demos, 1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    params = dict(m.named_parameters())
    unchanged = [n for n, before in trained.items() if torch.equal(before, params[n])]
    assert not unchanged, unchanged
    assert all(torch.equal(before, params[n]) for n, before in frozen.items())
    assert all(not p.requires_grad for p in m.ref.parameters())
