"""The losses and estimates of the three stages, as plain functions of tensors (each tested by hand).

Stage 1 (SFT): next-token cross-entropy on the labeler demonstrations.
Stage 2 (RM): the pairwise loss of the paper's Equation 1 over all ranked pairs of a prompt's K responses.
Stage 3 (RL): PPO on the reward r(x, y) - beta * log(pi / pi_SFT) (Equation 2), with a value
function, generalized advantage estimation and the clipped surrogate objective.

Masks are [batch, R] with 1 on response tokens (up to and including end-of-text) and 0 on padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def sft_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Cross-entropy of the demonstration's response tokens; logits [batch, R, vocab], targets [batch, R]."""
    nll = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # [batch, R]
    return masked_mean(nll, mask)


def reward_model_loss(rewards: Tensor, scores: Tensor) -> tuple[Tensor, Tensor]:
    """Equation 1: -1/C(K,2) * sum over pairs of log sigmoid(r(x, y_w) - r(x, y_l)), per prompt.

    rewards [batch, K] are the reward model's outputs for K responses to each prompt; scores
    [batch, K] are the labeler's ranks (higher = preferred). Every pair (i, j) with scores_i > scores_j
    is one comparison, y_w = i and y_l = j; tied pairs carry no preference and are left out, so a
    prompt's loss is divided by its number of ranked pairs (C(K,2) when there are no ties). All the
    comparisons of a prompt stay in one batch element: each response goes through the model once.
    Returns the loss and the fraction of ranked pairs the model orders as the labeler does.
    """
    if rewards.shape != scores.shape or rewards.dim() != 2:
        raise ValueError(f"rewards and scores must both be [batch, K], got {list(rewards.shape)}, {list(scores.shape)}")
    margin = rewards[:, :, None] - rewards[:, None, :]  # [batch, K, K]: r_i - r_j
    ranked = (scores[:, :, None] > scores[:, None, :]).float()  # [batch, K, K]: 1 where i beats j
    pairs = ranked.sum((1, 2))  # [batch]
    per_prompt = -(F.logsigmoid(margin) * ranked).sum((1, 2)) / pairs.clamp(min=1)  # [batch]
    has_pairs = (pairs > 0).float()
    loss = (per_prompt * has_pairs).sum() / has_pairs.sum().clamp(min=1)
    accuracy = ((margin > 0).float() * ranked).sum() / ranked.sum().clamp(min=1)
    return loss, accuracy


def kl_per_token(logp: Tensor, logp_ref: Tensor) -> Tensor:
    """log pi(y_t) - log pi_SFT(y_t) at the sampled tokens: summed over a response sampled from pi,
    an unbiased estimate of KL(pi || pi_SFT) for that prompt."""
    return logp - logp_ref


def token_rewards(score: Tensor, logp: Tensor, logp_ref: Tensor, mask: Tensor, beta: float) -> Tensor:
    """Per-token reward: -beta * log(pi / pi_SFT) at every token, plus r(x, y) at the last one. [batch, R]"""
    rewards = -beta * kl_per_token(logp, logp_ref) * mask
    last = mask.sum(-1).long() - 1  # [batch]
    return rewards.scatter_add(1, last[:, None], score[:, None].to(rewards.dtype))


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimation (Schulman et al., 2016) along the response, backwards in time.

    delta_t = r_t + gamma * V(s_{t+1}) - V(s_t), with V = 0 after the last token;
    A_t = delta_t + gamma * lam * A_{t+1}. Returns the advantages and the value targets A_t + V(s_t).
    """
    advantages = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(rewards[:, 0])
    next_value = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_adv = (delta + gamma * lam * next_adv) * m
        advantages[:, t] = next_adv
        next_value = values[:, t] * m  # a padded step's value never leaks into the last real one
    return advantages, advantages + values


def whiten(x: Tensor, mask: Tensor) -> Tensor:
    """Zero mean, unit variance over the response tokens (the usual normalization of advantages)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def ppo_clip_loss(logp: Tensor, logp_old: Tensor, advantages: Tensor, mask: Tensor, clip_eps: float) -> Tensor:
    """The clipped surrogate (Schulman et al., 2017), negated to be minimized:
    -min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) with rho = pi(y_t) / pi_old(y_t)."""
    ratio = torch.exp(logp - logp_old)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages
    return -masked_mean(torch.minimum(unclipped, clipped), mask)


def value_loss(values: Tensor, returns: Tensor, mask: Tensor) -> Tensor:
    """Squared error of the value function against its GAE targets: 1/2 (V(s_t) - R_t)^2."""
    return 0.5 * masked_mean((values - returns) ** 2, mask)
