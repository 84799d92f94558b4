"""Layer normalisation (Ba, Kiros and Hinton, 2016) from its definition, beside the batch norm it
replaces, and the two small networks the comparison trains.

Section 2      batch normalisation: statistics over the batch, running averages for test time
Section 3      layer normalisation: statistics over the d_model summed inputs of one case,
               with a hand-written backward pass that is itself differentiable
Section 3.1    a recurrent network with layer norm at every time step (the paper's eq. 4)
Section 6.6    a feed-forward classifier with the normalisation before each non-linearity

Conventions: row vectors, a = x W (no bias: the norm's own bias b plays that part); shapes are
[batch, d_model] for one step of a layer and [batch, seq, ...] for sequences. The paper writes H
for the number of hidden units; here that is d_model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

NORMS = ("none", "batch", "layer")


# --- Section 3: layer normalisation, forward and backward by hand ----------------------------------------


def standardise(a: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """a_hat = (a - mu) / sqrt(sigma^2 + eps) over the last dimension, and rstd = 1 / sqrt(sigma^2 + eps).

    a: [..., d_model] -> a_hat [..., d_model], rstd [..., 1]. Used by the forward pass and again by
    the backward pass, which recomputes the statistics from the saved input.
    """
    mu = a.mean(-1, keepdim=True)  # [..., 1]: one mean per case (and per time step)
    sigma2 = (a - mu).pow(2).mean(-1, keepdim=True)  # [..., 1]: divide by d_model, not d_model - 1
    rstd = torch.rsqrt(sigma2 + eps)  # 1 / sqrt(sigma^2 + eps)
    a_hat = (a - mu) * rstd  # [..., d_model]: mean 0, variance ~1 along the last dimension
    return a_hat, rstd


class LayerNormFunction(torch.autograd.Function):
    """y = g * (a - mu) / sqrt(sigma^2 + eps) + b, with mu and sigma^2 over the last dimension.

    a: [..., d_model]; gain g and bias b: [d_model] or None. The backward pass is the chain rule
    worked out once on paper (notes, section 3.4), so in ordinary training autograd records one
    step for the whole layer, not the mean, the variance and the division one by one. It keeps
    only the input and the gain and recomputes a_hat from them with ordinary torch operations:
    when a second derivative is asked for (create_graph=True, as in a gradient penalty), autograd
    records those operations too and differentiates the backward pass itself.
    """

    @staticmethod
    def forward(ctx, a: Tensor, gain: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
        a_hat, _ = standardise(a, eps)
        ctx.save_for_backward(a, gain)  # the inputs, not a_hat: a_hat made here has no path back to a
        ctx.eps = eps
        y = a_hat if gain is None else a_hat * gain
        return y if bias is None else y + bias

    @staticmethod
    def backward(ctx, dy: Tensor):
        a, gain = ctx.saved_tensors
        a_hat, rstd = standardise(a, ctx.eps)  # recomputed: under create_graph this is recorded too
        d_model = a_hat.size(-1)
        d_gain = d_bias = None
        if gain is not None and ctx.needs_input_grad[1]:
            d_gain = (dy * a_hat).reshape(-1, d_model).sum(0)  # [d_model]: summed over every case
        if ctx.needs_input_grad[2]:
            d_bias = dy.reshape(-1, d_model).sum(0)  # [d_model]
        d_a = None
        if ctx.needs_input_grad[0]:
            d_hat = dy if gain is None else dy * gain  # [..., d_model]: gradient w.r.t. a_hat
            # mu and sigma depend on every a_i, so each gradient loses its mean and its component
            # along a_hat: da = (d_hat - mean(d_hat) - a_hat * mean(d_hat * a_hat)) / sigma.
            d_a = rstd * (d_hat - d_hat.mean(-1, keepdim=True) - a_hat * (d_hat * a_hat).mean(-1, keepdim=True))
        return d_a, d_gain, d_bias, None


class LayerNorm(nn.Module):
    """Layer normalisation over the last dimensions, the same computation at training and test time.

    normalized_shape is an int d_model or a tuple of trailing sizes, as in torch.nn.LayerNorm:
    a: [..., *normalized_shape] -> the same shape, with mu and sigma taken over all the trailing
    dimensions together, and gain and bias of shape normalized_shape. With
    elementwise_affine=False there is no gain or bias.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape:
            raise ValueError("normalized_shape must name at least one dimension, got ()")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
            raise ValueError(f"normalized_shape sizes must be integers, got {shape}")
        if min(shape) < 1:
            raise ValueError(f"normalized_shape sizes must be >= 1, got {shape}")
        if math.prod(shape) < 2:
            raise ValueError(f"layer norm needs d_model >= 2 summed inputs to normalise over, got {shape}")
        if eps < 0:
            raise ValueError(f"layer norm eps must be >= 0, got {eps}")
        self.normalized_shape, self.eps = shape, eps
        self.d_model = math.prod(shape)  # the number of summed inputs one mean and variance cover
        # Gain 1 and bias 0 at the start: the layer begins as pure standardisation.
        self.gain = nn.Parameter(torch.ones(shape)) if elementwise_affine else None
        self.bias = nn.Parameter(torch.zeros(shape)) if elementwise_affine else None

    def forward(self, a: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if a.dim() < k or tuple(a.shape[-k:]) != self.normalized_shape:
            expected = ", ".join(map(str, self.normalized_shape))
            raise ValueError(f"layer norm expects [..., {expected}] inputs, got {list(a.shape)}")
        # The trailing k dimensions hold one case's d_model summed inputs: flatten them into one
        # row, normalise the row, put the shape back (a no-op for an int normalized_shape).
        gain = None if self.gain is None else self.gain.reshape(-1)  # [d_model]
        bias = None if self.bias is None else self.bias.reshape(-1)  # [d_model]
        y = LayerNormFunction.apply(a.flatten(-k), gain, bias, self.eps)  # [..., d_model]
        return y.reshape(a.shape)


# --- Section 2: batch normalisation, for comparison ------------------------------------------------------


class BatchNorm(nn.Module):
    """Batch normalisation of Ioffe and Szegedy (2015): each of the d_model units is standardised
    with the mean and variance of that unit over the mini-batch.

    a: [batch, d_model] -> [batch, d_model]. Training uses the batch's statistics and updates
    running averages; evaluation uses the running averages, so the two modes compute different
    functions. With one case in the batch, a - mu is exactly 0 and the output is the bias alone.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"batch norm momentum must be in (0, 1], got {momentum}")
        self.d_model, self.eps, self.momentum = d_model, eps, momentum
        self.gain = nn.Parameter(torch.ones(d_model)) if affine else None
        self.bias = nn.Parameter(torch.zeros(d_model)) if affine else None
        self.register_buffer("running_mean", torch.zeros(d_model))
        self.register_buffer("running_var", torch.ones(d_model))

    def forward(self, a: Tensor) -> Tensor:
        if a.dim() != 2 or a.size(1) != self.d_model:
            raise ValueError(f"batch norm expects [batch, {self.d_model}] inputs, got {list(a.shape)}")
        if self.training:
            n = a.size(0)
            mu = a.mean(0)  # [d_model]: one mean per unit, over the cases of the batch
            sigma2 = a.var(0, unbiased=False)  # [d_model]
            with torch.no_grad():
                # The running variance is the unbiased estimate, as in torch.nn.BatchNorm1d; one
                # case has no unbiased variance, so it contributes its (zero) spread as it is.
                unbiased = sigma2 * n / (n - 1) if n > 1 else sigma2
                # (cast: under bf16 autocast the statistics arrive in bf16, the averages stay fp32)
                self.running_mean.lerp_(mu.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(unbiased.detach().to(self.running_var.dtype), self.momentum)
        else:
            mu, sigma2 = self.running_mean, self.running_var
        a_hat = (a - mu) / torch.sqrt(sigma2 + self.eps)
        if self.gain is not None:
            a_hat = a_hat * self.gain + self.bias
        return a_hat


class Bias(nn.Module):
    """No normalisation: only the bias b, so a + b is the plain layer the paper compares against."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, a: Tensor) -> Tensor:
        return a + self.bias


def make_norm(kind: str, d_model: int) -> nn.Module:
    """'layer', 'batch' or 'none'. Every kind owns the bias b, so the weight matrices are created
    the same way (and, from one seed, with the same values) whichever normalisation follows them."""
    if kind == "layer":
        return LayerNorm(d_model)
    if kind == "batch":
        return BatchNorm(d_model)
    if kind == "none":
        return Bias(d_model)
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


class NormalisedSum(nn.Module):
    """h = f(norm(x W)): the summed inputs a = x W, normalised, then the non-linearity.

    The paper puts the normalisation between the summed inputs and f, with the bias b added
    after it; with norm 'none' this is the plain relu(x W + b).
    """

    def __init__(self, d_in: int, d_model: int, norm: str) -> None:
        super().__init__()
        self.W = nn.Linear(d_in, d_model, bias=False)
        self.norm = make_norm(norm, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.norm(self.W(x)))  # [batch, d_model]


# --- Section 6.6: the feed-forward classifier ----------------------------------------------------------------


@dataclass
class MLPConfig:
    d_in: int = 64  # 8 x 8 digit images, flattened
    d_model: int = 128  # hidden units per layer (the paper's H)
    n_layers: int = 2
    n_classes: int = 10
    norm: str = "layer"

    def __post_init__(self) -> None:
        for name in ("d_in", "d_model", "n_layers", "n_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")


class MLP(nn.Module):
    """n_layers hidden layers h = relu(norm(x W)), then a plain linear read-out (the paper leaves the
    softmax layer unnormalised). x: [batch, d_in] -> logits [batch, n_classes]."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [cfg.d_in] + [cfg.d_model] * cfg.n_layers
        self.layers = nn.ModuleList(NormalisedSum(a, b, cfg.norm) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(cfg.d_model, cfg.n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.size(1) != self.cfg.d_in:
            raise ValueError(f"x must be [batch, {self.cfg.d_in}], got {list(x.shape)}")
        for layer in self.layers:
            x = layer(x)  # [batch, d_model]
        return self.out(x)  # [batch, n_classes]


# --- Section 3.1: the recurrent network --------------------------------------------------------------------------


@dataclass
class RNNConfig:
    vocab_size: int = 65
    d_embed: int = 32
    d_model: int = 128  # hidden units of the recurrent layer (the paper's H)
    norm: str = "layer"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_embed", "d_model"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")


class NormRNN(nn.Module):
    """A vanilla recurrent layer with the normalisation inside the recurrence (eq. 4):

        a_t = x_t W_xh + h_{t-1} W_hh,      h_t = tanh(g / sigma_t * (a_t - mu_t) + b)

    Layer norm computes mu_t and sigma_t from the d_model summed inputs of one sequence at one
    step, so it works for any batch size and any length. Batch norm here uses the batch's
    statistics at each step, shared gain, bias and running averages across steps.
    x: [batch, seq, d_in] -> hidden states [batch, seq, d_model].
    """

    def __init__(self, d_in: int, d_model: int, norm: str) -> None:
        super().__init__()
        self.d_model = d_model
        self.W_xh = nn.Linear(d_in, d_model, bias=False)
        self.W_hh = nn.Linear(d_model, d_model, bias=False)
        self.norm = make_norm(norm, d_model)

    def forward(self, x: Tensor) -> Tensor:
        batch, seq, _ = x.shape
        xw = self.W_xh(x)  # [batch, seq, d_model]: the input part of every a_t, in one multiply
        h = x.new_zeros(batch, self.d_model)
        states = []
        for t in range(seq):
            a_t = xw[:, t] + self.W_hh(h)  # [batch, d_model]
            h = torch.tanh(self.norm(a_t))
            states.append(h)
        return torch.stack(states, dim=1)  # [batch, seq, d_model]


class CharRNN(nn.Module):
    """Character language model: embedding -> NormRNN -> linear read-out of the next character.

    ids: [batch, seq] -> logits [batch, seq, vocab_size].
    """

    def __init__(self, cfg: RNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_embed)
        self.rnn = NormRNN(cfg.d_embed, cfg.d_model, cfg.norm)
        self.out = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids must be character ids [batch, seq], got shape {list(ids.shape)}")
        return self.out(self.rnn(self.embed(ids)))  # [batch, seq, vocab_size]
