"""The decoder: shapes, the causal mask, rotary positions, gradient flow, and generation with the cache
equal to generation without it."""

import pytest
import torch
from chain_of_thought.model import Decoder, DecoderConfig, apply_rope, rope_tables


def tiny(**kw) -> Decoder:
    torch.manual_seed(0)
    return Decoder(DecoderConfig(**{"vocab_size": 28, "n_ctx": 32, "d_model": 16, "n_heads": 2, "n_layers": 2} | kw))


def test_logits_shape():
    assert tiny()(torch.randint(0, 28, (3, 10))).shape == (3, 10, 28)


def test_causal_mask_hides_future():
    model, x = tiny(), torch.randint(0, 28, (2, 12))
    y = x.clone()
    y[:, 7:] = (y[:, 7:] + 1) % 28  # change every token from position 7 on
    torch.testing.assert_close(model(x)[:, :7], model(y)[:, :7])
    assert not torch.allclose(model(x)[:, 7:], model(y)[:, 7:])


def test_rotary_score_depends_only_on_the_offset():
    cos, sin = rope_tables(32, 8, 10000.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(m: int, n: int) -> float:
        return (apply_rope(q, cos[m:m + 1], sin[m:m + 1]) * apply_rope(k, cos[n:n + 1], sin[n:n + 1])).sum().item()

    assert score(5, 2) == pytest.approx(score(20, 17), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 3), abs=1e-3)


def test_gradient_reaches_every_parameter():
    model = tiny()
    model(torch.randint(0, 28, (2, 9))).logsumexp(-1).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_cached_generation_equals_recomputing_the_whole_sequence():
    model, prompt = tiny(), torch.randint(0, 28, (4, 6))
    new = model.generate(prompt, 8)  # greedy, with the key/value cache
    seq = prompt
    for _ in range(8):  # greedy without a cache: the whole sequence again at every step
        seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(new, seq[:, 6:])


def test_sampling_is_reproducible_and_stops():
    model, prompt = tiny(), torch.randint(0, 28, (5, 4))
    a = model.generate(prompt, 10, temperature=1.0, generator=torch.Generator().manual_seed(3))
    b = model.generate(prompt, 10, temperature=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert model.generate(prompt, 10, stop=None).shape == (5, 10)  # no stop token: runs to max_new
    one = prompt[:1]
    first = int(model.generate(one, 10)[0, 0])
    assert model.generate(one, 10, stop=first).shape == (1, 1)  # stops as soon as every row has written it


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        DecoderConfig(vocab_size=10, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="must be even"):
        DecoderConfig(vocab_size=10, d_model=12, n_heads=4)
    with pytest.raises(ValueError, match=r"idx must be token ids \[batch, seq\]"):
        tiny()(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds the context"):
        tiny()(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        tiny().generate(torch.zeros(1, 3, dtype=torch.long), 2, temperature=-1)
