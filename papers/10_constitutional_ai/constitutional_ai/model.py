"""The models of Constitutional AI, small: one transformer encoder body, three heads.

- `Assistant`: the language model. With the task token GEN it writes a response (all response slots start
  as MASK and are filled in one pass); with CRIT it critiques a response under a principle (a flag per
  token: "this token breaks the principle"); with REV it revises (the flagged tokens are masked again
  and refilled, reading the principle). The helpful model, SL-CAI and both RL policies are Assistants.
- `FeedbackModel`: reads a principle, a prompt and a response, scores how well the response follows the
  principle; two scores give how likely (A) is the better of two responses.
- `PreferenceModel`: reads a prompt and one response; returns a scalar score.

Conventions: row vectors `x @ W + b`; shapes in trailing comments where they change. The losses of the
two feedback stages sit at the end (`preference_loss`, `kl_penalised_reward`,
`reinforce_loss`): they are what the hand-worked tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from constitutional_ai.constitution import ID, PRINCIPLE_LEN, RESPONSE_IDS, RESPONSE_LEN, V


@dataclass
class EncoderConfig:
    d_model: int = 48
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 96
    max_len: int = 1 + PRINCIPLE_LEN + 3 + RESPONSE_LEN  # [task, principle, prompt, response]

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "n_layers", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"model.d_model ({self.d_model}) must be divisible by model.n_heads ({self.n_heads})")


class Encoder(nn.Module):
    """Token + position embeddings, a pre-LN transformer encoder (every token sees every token)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(V, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.max_len = cfg.max_len

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.dim() != 2 or tokens.shape[1] > self.max_len:
            raise ValueError(f"tokens must be [batch, seq <= {self.max_len}], got {list(tokens.shape)}")
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        return self.norm(self.layers(self.tok(tokens) + self.pos(pos)))  # [B, seq, d_model]


def _pad(principle: Tensor | None, batch: int, device) -> Tensor:
    if principle is None:
        return torch.full((batch, PRINCIPLE_LEN), ID["PAD"], device=device)
    return principle


class Assistant(nn.Module):
    """Input layout: [task, principle (4), prompt (3), response (4)] -> logits at the response slots."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.body = Encoder(cfg)
        self.token_head = nn.Linear(cfg.d_model, V)
        self.flag_head = nn.Linear(cfg.d_model, 1)
        # Only response tokens may be written: the others get -inf before the softmax.
        allowed = torch.full((V,), float("-inf"))
        allowed[RESPONSE_IDS] = 0.0
        self.register_buffer("allowed", allowed, persistent=False)

    def forward(self, task: str | Tensor, prompt: Tensor, response: Tensor, principle: Tensor | None = None):
        """task: a task name, or one task id per row (several tasks in one batch)."""
        B = len(prompt)
        task = torch.full((B,), ID[task], device=prompt.device) if isinstance(task, str) else task
        tokens = torch.cat([task[:, None], _pad(principle, B, prompt.device), prompt, response], 1)  # [B, 12]
        h = self.body(tokens)[:, -RESPONSE_LEN:]  # [B, L, d_model]
        return self.token_head(h) + self.allowed, self.flag_head(h)[..., 0]  # [B, L, V], [B, L]

    def response_logits(self, prompt: Tensor) -> Tensor:
        """The policy pi(y | x): one categorical per response slot, filled in parallel. -> [B, L, V]"""
        masked = torch.full((len(prompt), RESPONSE_LEN), ID["MASK"], device=prompt.device)
        return self.forward("GEN", prompt, masked)[0]

    @torch.no_grad()
    def generate(self, prompt: Tensor, g: torch.Generator | None = None) -> Tensor:
        """Sample a response. -> [B, L]"""
        probs = self.response_logits(prompt).softmax(-1)
        return torch.multinomial(probs.flatten(0, 1), 1, generator=g).view(len(prompt), RESPONSE_LEN)

    @torch.no_grad()
    def critique(self, principle: Tensor, prompt: Tensor, response: Tensor) -> Tensor:
        """Which tokens break the principle, in the model's own judgement. -> [B, L] bool"""
        return self.forward("CRIT", prompt, response, principle)[1] > 0

    @torch.no_grad()
    def revise(self, principle: Tensor, prompt: Tensor, response: Tensor, flags: Tensor) -> Tensor:
        """Rewrite the flagged tokens (masked, then refilled by the model reading the principle)."""
        masked = response.masked_fill(flags, ID["MASK"])
        logits = self.forward("REV", prompt, masked, principle)[0]
        return torch.where(flags, logits.argmax(-1), response)  # [B, L]


class FeedbackModel(nn.Module):
    """Reads [CMP, principle (4), prompt (3), response (4)] and scores how well the response follows the
    principle: a score per response token, summed (a token either serves the principle, goes against it, or
    neither). Comparing (A) with (B): logit P(A better) = f(A) - f(B)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.body = Encoder(cfg)
        self.head = nn.Linear(cfg.d_model, 1)

    def token_scores(self, principle: Tensor, prompt: Tensor, response: Tensor) -> Tensor:
        """How much each response token serves (+) or breaks (-) the principle. -> [B, L]"""
        B = len(prompt)
        tokens = torch.cat([torch.full((B, 1), ID["CMP"], device=prompt.device), principle, prompt, response], 1)
        return self.head(self.body(tokens)[:, -RESPONSE_LEN:])[..., 0]  # [B, 12] -> [B, L]

    def forward(self, principle: Tensor, prompt: Tensor, a: Tensor, b: Tensor) -> Tensor:
        """The logit of "(A) is the better response": f(A) - f(B), both scored in one batch."""
        f = self.token_scores(principle.repeat(2, 1), prompt.repeat(2, 1), torch.cat([a, b])).sum(-1)
        return f[: len(a)] - f[len(a):]  # [B]

    @torch.no_grad()
    def prefer_a(self, principle: Tensor, prompt: Tensor, a: Tensor, b: Tensor) -> Tensor:
        """P(A is better), the soft label the preference model learns."""
        return torch.sigmoid(self(principle, prompt, a, b))


class PreferenceModel(nn.Module):
    """Reads [SCORE, prompt (3), response (4)] and returns a scalar r(x, y): per-token scores, summed."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.body = Encoder(cfg)
        self.head = nn.Linear(cfg.d_model, 1)

    def forward(self, prompt: Tensor, response: Tensor) -> Tensor:
        B = len(prompt)
        tokens = torch.cat([torch.full((B, 1), ID["SCORE"], device=prompt.device), prompt, response], 1)
        return self.head(self.body(tokens)[:, -RESPONSE_LEN:])[..., 0].sum(-1)  # [B]

    def compare(self, prompt: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        """r(x, a) and r(x, b) in one batch."""
        r = self(prompt.repeat(2, 1), torch.cat([a, b]))
        return r[: len(a)], r[len(a):]


# ---- the losses of the RL-from-AI-feedback stage ------------------------------------------------------------

def preference_loss(r_a: Tensor, r_b: Tensor, p_a: Tensor) -> Tensor:
    """Cross-entropy of the preference model's P(A > B) = sigma(r_A - r_B) against the soft label p_A."""
    return F.binary_cross_entropy_with_logits(r_a - r_b, p_a)


def sequence_logprob(logits: Tensor, response: Tensor) -> Tensor:
    """log pi(y | x) = sum over slots of log softmax(logits)[y_l]. [B, L, V], [B, L] -> [B]"""
    return logits.log_softmax(-1).gather(-1, response[..., None])[..., 0].sum(-1)


def kl_penalised_reward(score: Tensor, logp: Tensor, logp_ref: Tensor, beta: float) -> Tensor:
    """R = r_PM(x, y) - beta * (log pi(y|x) - log pi_ref(y|x)): the sampled KL keeps pi near the SL model."""
    return score - beta * (logp - logp_ref)


def reinforce_loss(logp: Tensor, reward: Tensor) -> Tensor:
    """REINFORCE with the batch-mean baseline: -mean((R - mean R) * log pi(y|x)); R carries no gradient."""
    advantage = (reward - reward.mean()).detach()
    return -(advantage * logp).mean()
