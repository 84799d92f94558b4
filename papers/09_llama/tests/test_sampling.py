"""Sampling in generate: temperature 0 is greedy, a positive temperature draws from softmax(logits / T)
(checked by counting draws), and bad settings (negative or NaN temperature, negative length) are
one-line errors rather than a crash inside torch.multinomial."""

import math

import pytest
import torch
from llama.model import ModelConfig, Transformer

TINY = dict(vocab_size=30, d_model=32, n_layers=2, n_heads=4, d_ff=48, max_seq_len=24)


@pytest.fixture
def model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(**TINY)).eval()


def prompt_ids(batch=2, t=5, seed=4):
    return torch.randint(0, TINY["vocab_size"], (batch, t), generator=torch.Generator().manual_seed(seed))


def test_temperature_zero_is_the_argmax_of_the_full_forward(model):
    out = model.generate(prompt_ids(), 10, temperature=0.0)
    for t in range(5, 15):
        logits, _ = model(out[:, :t])
        assert torch.equal(out[:, t], logits[:, -1].argmax(-1)), f"token {t}"


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_draws_follow_the_softmax_of_logits_over_temperature(model, temperature):
    prompt = prompt_ids(batch=1)
    logits, _ = model(prompt)
    expected = (logits[0, -1] / temperature).softmax(-1)  # [vocab]
    n = 20_000
    draws = model.generate(prompt.expand(n, -1), 1, temperature=temperature,
                           generator=torch.Generator().manual_seed(0))[:, -1]
    observed = torch.bincount(draws, minlength=TINY["vocab_size"]).float() / n
    # total variation distance; with 20,000 draws over 30 tokens its sampling noise is about 0.02
    assert 0.5 * (observed - expected).abs().sum().item() < 0.04


def test_a_very_low_temperature_tends_to_greedy(model):
    prompt = prompt_ids()
    greedy = model.generate(prompt, 8, temperature=0.0)
    cold = model.generate(prompt, 8, temperature=1e-4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(greedy, cold)


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": -0.5}, "temperature must be >= 0"),
    ({"temperature": math.nan}, "temperature must be >= 0"),
    ({"max_new_tokens": -1}, "max_new_tokens must be >= 0"),
])
def test_bad_settings_are_one_line_errors(model, kwargs, message):
    args = {"max_new_tokens": 3, "temperature": 1.0} | kwargs
    with pytest.raises(ValueError, match=message) as info:
        model.generate(prompt_ids(), **args)
    assert "\n" not in str(info.value)
