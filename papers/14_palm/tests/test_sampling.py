"""Sampling in generate: temperature 0 is greedy, a positive temperature draws from softmax(logits / T)
(checked by counting draws), and bad settings (negative or NaN temperature, negative length) are
one-line errors rather than a crash inside torch.multinomial or a silent empty result."""

import math

import pytest
import torch


def test_temperature_zero_is_the_argmax_of_the_full_forward(tiny_model, random_ids):
    out = tiny_model.generate(random_ids(batch=2, seq=5), 10, temperature=0.0)
    for t in range(5, 15):
        assert torch.equal(out[:, t], tiny_model(out[:, :t])[:, -1].argmax(-1)), f"token {t}"


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_draws_follow_the_softmax_of_logits_over_temperature(tiny_model, random_ids, temperature):
    prompt = random_ids(batch=1, seq=5)
    expected = (tiny_model(prompt)[0, -1] / temperature).softmax(-1)  # [vocab]
    n = 20_000
    draws = tiny_model.generate(prompt.expand(n, -1), 1, temperature=temperature,
                                generator=torch.Generator().manual_seed(0))[:, -1]
    observed = torch.bincount(draws, minlength=expected.numel()).float() / n
    # total variation distance; with 20,000 draws over 20 tokens its sampling noise is about 0.02
    assert 0.5 * (observed - expected).abs().sum().item() < 0.04


def test_a_very_low_temperature_tends_to_greedy(tiny_model, random_ids):
    prompt = random_ids(batch=2, seq=5)
    greedy = tiny_model.generate(prompt, 8, temperature=0.0)
    cold = tiny_model.generate(prompt, 8, temperature=1e-4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(greedy, cold)


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": -0.5}, "temperature must be >= 0"),
    ({"temperature": math.nan}, "temperature must be >= 0"),
    ({"max_new_tokens": -1}, "max_new_tokens must be >= 0"),
])
def test_bad_settings_are_one_line_errors(tiny_model, random_ids, kwargs, message):
    args = {"max_new_tokens": 3, "temperature": 1.0} | kwargs
    with pytest.raises(ValueError, match=message) as info:
        tiny_model.generate(random_ids(batch=1, seq=3), **args)
    assert "\n" not in str(info.value)
