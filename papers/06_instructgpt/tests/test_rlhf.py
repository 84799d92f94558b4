"""The losses and estimates of the three stages, against numbers worked by hand (see notes.md)."""

import math

import pytest
import torch
from instructgpt.rlhf import gae, kl_per_token, ppo_clip_loss, reward_model_loss, token_rewards, value_loss, whiten

# The 4-step episode of the notes: reward only at the end, gamma = 0.9, lambda = 0.5.
REWARDS = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
VALUES = torch.tensor([[0.5, 0.4, 0.6, 0.8]])
ADVANTAGES = [-0.034475, 0.2345, 0.21, 0.2]  # delta = [-0.14, 0.14, 0.12, 0.2], A_t = delta_t + 0.45 A_{t+1}


def test_gae_on_a_four_step_episode_matches_the_hand_numbers():
    adv, ret = gae(REWARDS, VALUES, torch.ones(1, 4), gamma=0.9, lam=0.5)
    torch.testing.assert_close(adv, torch.tensor([ADVANTAGES]))
    torch.testing.assert_close(ret, torch.tensor([ADVANTAGES]) + VALUES)


def test_gae_ignores_padding_after_the_last_token():
    rewards = torch.cat([REWARDS, torch.tensor([[5.0, 5.0]])], 1)  # garbage in the padded steps
    values = torch.cat([VALUES, torch.tensor([[9.0, -9.0]])], 1)
    adv, _ = gae(rewards, values, torch.tensor([[1.0, 1, 1, 1, 0, 0]]), gamma=0.9, lam=0.5)
    torch.testing.assert_close(adv, torch.tensor([[*ADVANTAGES, 0.0, 0.0]]))


def test_gae_agrees_with_torchrl_on_random_episodes_of_different_lengths():
    from torchrl.objectives.value.functional import generalized_advantage_estimate

    g = torch.Generator().manual_seed(0)
    b, t = 6, 7
    rewards, values = torch.randn(b, t, generator=g), torch.randn(b, t, generator=g)
    lengths = torch.tensor([7, 1, 3, 5, 2, 7])
    mask = (torch.arange(t)[None] < lengths[:, None]).float()
    ours, ours_ret = gae(rewards * mask, values, mask, gamma=0.95, lam=0.9)
    done = (torch.arange(t)[None] == lengths[:, None] - 1)[..., None]  # [b, t, 1]: the episode ends here
    next_values = torch.cat([values[:, 1:], torch.zeros(b, 1)], 1)[..., None]
    ref, ref_ret = generalized_advantage_estimate(0.95, 0.9, values[..., None], next_values,
                                                  (rewards * mask)[..., None], done, done)
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], ref.squeeze(-1)[valid])
    torch.testing.assert_close(ours_ret[valid], ref_ret.squeeze(-1)[valid])


@pytest.mark.parametrize(("ratio", "advantage", "loss", "clipped"), [
    (1.1, 2.0, -2.2, False),   # inside [0.8, 1.2]: the plain ratio * A
    (1.5, 2.0, -2.4, True),    # above 1 + eps with A > 0: capped at 1.2 * A, no gradient
    (0.5, -1.0, 0.8, True),    # below 1 - eps with A < 0: floored at 0.8 * A, no gradient
    (0.5, 1.0, -0.5, False),   # below 1 - eps with A > 0: the min keeps the worse, unclipped term
])
def test_clipped_loss_inside_and_outside_the_clip_range(ratio, advantage, loss, clipped):
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    out = ppo_clip_loss(logp, torch.zeros(1, 1), torch.tensor([[advantage]]), torch.ones(1, 1), clip_eps=0.2)
    assert out.item() == pytest.approx(loss, abs=1e-6)
    out.backward()
    assert (logp.grad.abs().item() == 0) == clipped


def test_kl_estimate_averages_to_the_true_kl():
    p = torch.tensor([0.5, 0.25, 0.25])  # pi
    q = torch.tensor([0.25, 0.25, 0.5])  # pi_SFT
    per_token = kl_per_token(p.log(), q.log())
    torch.testing.assert_close(per_token, torch.tensor([math.log(2), 0.0, -math.log(2)]))
    assert (p * per_token).sum().item() == pytest.approx(0.25 * math.log(2))  # KL(pi || pi_SFT) = 0.1733
    draws = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    assert per_token[draws].mean().item() == pytest.approx(0.25 * math.log(2), abs=0.005)


def test_token_rewards_put_the_kl_penalty_on_every_token_and_the_score_on_the_last():
    logp = torch.tensor([[math.log(0.5), math.log(0.25), math.log(0.25), 0.0]])
    logp_ref = torch.tensor([[math.log(0.25), math.log(0.25), math.log(0.5), 0.0]])
    out = token_rewards(torch.tensor([1.0]), logp, logp_ref, torch.tensor([[1.0, 1, 1, 0]]), beta=0.1)
    torch.testing.assert_close(out, torch.tensor([[-0.1 * math.log(2), 0.0, 1 + 0.1 * math.log(2), 0.0]]))


def test_reward_model_loss_matches_the_hand_numbers():
    # r = [2, 1, 0]; the labeler ranks response 0 first, 2 second, 1 last: pairs (0,1), (0,2), (2,1)
    loss, acc = reward_model_loss(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[3.0, 1.0, 2.0]]))
    assert loss.item() == pytest.approx(0.5844838, abs=1e-6)  # (softplus(-1) + softplus(-2) + softplus(1)) / 3
    assert acc.item() == pytest.approx(2 / 3)


def test_reward_model_loss_leaves_out_ties():
    loss, _ = reward_model_loss(torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[1.0, 1.0, 0.0]]))
    assert loss.item() == pytest.approx((math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2, abs=1e-6)


def test_reward_model_loss_is_the_mean_over_all_k_choose_2_pairs_of_each_prompt():
    g = torch.Generator().manual_seed(1)
    rewards, scores = torch.randn(3, 5, generator=g), torch.randperm(5, generator=g).float().repeat(3, 1)
    per_prompt = []
    for r, s in zip(rewards, scores):
        pairs = [(i, j) for i in range(5) for j in range(5) if s[i] > s[j]]
        assert len(pairs) == math.comb(5, 2)
        per_prompt.append(sum(-torch.nn.functional.logsigmoid(r[i] - r[j]) for i, j in pairs) / len(pairs))
    loss, _ = reward_model_loss(rewards, scores)
    torch.testing.assert_close(loss, torch.stack(per_prompt).mean())


def test_reward_model_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\[batch, K\]"):
        reward_model_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_whiten_and_value_loss():
    x, mask = torch.tensor([[1.0, 3.0, 100.0]]), torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(whiten(x, mask), torch.tensor([[-1.0, 1.0, 0.0]]), atol=1e-4, rtol=0)
    loss = value_loss(torch.tensor([[1.0, 2.0, 7.0]]), torch.tensor([[0.0, 0.0, 0.0]]), mask)
    assert loss.item() == pytest.approx(1.25)  # (1 + 4) / 2 tokens / 2
