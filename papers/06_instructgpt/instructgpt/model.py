"""The three networks of InstructGPT, at laptop scale: a policy (a small GPT), a reward model and a
value function (the same GPT body with a scalar head instead of the unembedding).

Ouyang et al. (2022, arXiv:2203.02155) fine-tune GPT-3; here every network is the same tiny
decoder-only transformer (pre-LN, learned positions), so that the reward model can start from the
SFT policy with its unembedding replaced by a scalar head (as the paper's Section 3.5 describes),
and the value function from the trained reward model (our choice here).

Conventions: row vectors `x @ W + b`; shapes in trailing comments where they change.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class GPTConfig:
    vocab_size: int
    n_ctx: int  # prompt length + longest response
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_ctx", "d_model", "n_heads", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"model.d_model ({self.d_model}) must be divisible by model.n_heads ({self.n_heads})")


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln_1, self.ln_2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(),
                                 nn.Linear(4 * cfg.d_model, cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.W_qkv(self.ln_1(x)).split(d, dim=-1)
        h = self.n_heads
        q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))  # [b, h, t, d_head]
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [b, h, t, d_head]
        x = x + self.W_o(a.transpose(1, 2).reshape(b, t, d))  # [b, t, d_model]
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The decoder body: token + position embeddings, blocks, final LayerNorm -> hidden states."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def forward(self, tokens: Tensor) -> Tensor:  # tokens [batch, seq]
        if tokens.dim() != 2 or tokens.shape[1] > self.cfg.n_ctx:
            raise ValueError(f"tokens must be [batch, seq <= {self.cfg.n_ctx}], got {list(tokens.shape)}")
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)  # [batch, seq, d_model]


class Policy(nn.Module):
    """The language model pi(y_t | x, y_<t): the body plus an unembedding to the vocabulary."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.body = GPT(cfg)
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.unembed(self.body(tokens))  # [batch, seq, vocab]


class ScalarModel(nn.Module):
    """The body with a scalar head: the reward model r(x, y) and the value function V(x, y_<t)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.body = GPT(cfg)
        self.head = nn.Linear(cfg.d_model, 1)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.head(self.body(tokens)).squeeze(-1)  # [batch, seq]: one scalar per position


def response_logprobs(policy: Policy, tokens: Tensor, prompt_len: int) -> Tensor:
    """log pi(y_t | x, y_<t) of each response token; the logits at position i predict token i+1."""
    logits = policy(tokens)[:, prompt_len - 1 : -1]  # [batch, R, vocab]
    return torch.log_softmax(logits.float(), -1).gather(-1, tokens[:, prompt_len:, None]).squeeze(-1)  # [batch, R]


def response_values(value: ScalarModel, tokens: Tensor, prompt_len: int) -> Tensor:
    """V(s_t) for each response step t: the state is the prompt and y_<t, read where y_t is predicted."""
    return value(tokens)[:, prompt_len - 1 : -1]  # [batch, R]


def sequence_reward(reward_model: ScalarModel, tokens: Tensor, prompt_len: int, mask: Tensor) -> Tensor:
    """r(x, y): the scalar head read at the response's last token (its end-of-text, if it has one)."""
    last = prompt_len - 1 + mask.sum(-1).long()  # [batch]: index of the last response token
    scores = reward_model(tokens)  # [batch, seq]
    return scores.gather(1, last[:, None]).squeeze(1)  # [batch]


@torch.no_grad()
def sample(policy: Policy, prompts: Tensor, max_new: int, eos: int, pad: int,
           generator: torch.Generator, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Sample responses token by token; after end-of-text the rest is padding.

    Returns the full sequences [batch, P + max_new] and the response mask [batch, max_new]
    (1 for tokens up to and including the first end-of-text).
    """
    seq = prompts
    done = torch.zeros(len(prompts), dtype=torch.bool, device=prompts.device)
    mask = []
    for _ in range(max_new):
        logits = policy(seq)[:, -1].float() / temperature  # [batch, vocab]
        probs = torch.softmax(logits, -1)
        nxt = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(seq.device)  # [batch]
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        mask.append(~done)
        done = done | (nxt == eos)
        seq = torch.cat([seq, nxt[:, None]], 1)
    return seq, torch.stack(mask, 1).float()  # [batch, P + R], [batch, R]
