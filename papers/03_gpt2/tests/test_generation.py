"""KV-cache generation equals uncached generation token for token; temperature, top-k and top-p filtering."""

import pytest
import torch
from gpt2.model import check_sampling, sample_next, top_k_filter, top_p_filter


def prompt(cfg, batch=2, t=4):
    return torch.randint(0, cfg.vocab_size, (batch, t), generator=torch.Generator().manual_seed(3))


def test_cached_forward_gives_the_same_logits_as_one_full_pass(tiny_model, tiny_cfg):
    x = prompt(tiny_cfg, t=9)
    full = tiny_model(x)
    logits, past = tiny_model.forward_cached(x[:, :5])  # a prefix of 5 tokens ...
    pieces = [logits]
    for t in range(5, 9):  # ... then one token at a time
        logits, past = tiny_model.forward_cached(x[:, t : t + 1], past)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    assert past[0][0].shape == (2, tiny_cfg.n_heads, 9, tiny_cfg.d_k)  # keys of all 9 tokens


def test_cached_forward_of_several_new_tokens_uses_the_offset_mask(tiny_model, tiny_cfg):
    x = prompt(tiny_cfg, t=10)
    _, past = tiny_model.forward_cached(x[:, :6])
    logits, _ = tiny_model.forward_cached(x[:, 6:], past)  # 4 new tokens at positions 6..9
    torch.testing.assert_close(logits, tiny_model(x)[:, 6:], atol=1e-5, rtol=1e-5)


# 20 new tokens after a 4-token prompt pass the context of 16: the window slides in both paths.
@pytest.mark.parametrize("new_tokens", [8, 20])
def test_greedy_generation_cached_equals_uncached(tiny_model, tiny_cfg, new_tokens):
    x = prompt(tiny_cfg)
    cached = tiny_model.generate(x, new_tokens, temperature=0.0, use_cache=True)
    uncached = tiny_model.generate(x, new_tokens, temperature=0.0, use_cache=False)
    assert cached.shape == (2, 4 + new_tokens)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached[:, :4], x)


@pytest.mark.parametrize("settings", [{"temperature": 1.0}, {"temperature": 0.7, "top_k": 5},
                                      {"temperature": 1.3, "top_p": 0.8}, {"top_k": 10, "top_p": 0.9}])
def test_seeded_sampling_cached_equals_uncached(tiny_model, tiny_cfg, settings):
    x = prompt(tiny_cfg)
    runs = [tiny_model.generate(x, 20, use_cache=c, generator=torch.Generator().manual_seed(7), **settings)
            for c in (True, False)]
    assert torch.equal(runs[0], runs[1])
    other_seed = tiny_model.generate(x, 20, generator=torch.Generator().manual_seed(8), **settings)
    assert not torch.equal(runs[0], other_seed)  # the tokens really are sampled


def test_the_cache_does_less_work(tiny_model, tiny_cfg):
    # Count the tokens the first block processes: with the cache, each step feeds one token.
    seen = []
    hook = tiny_model.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].size(1)))
    tiny_model.generate(prompt(tiny_cfg), 6, temperature=0.0, use_cache=True)
    cached, seen[:] = list(seen), []
    tiny_model.generate(prompt(tiny_cfg), 6, temperature=0.0, use_cache=False)
    hook.remove()
    assert cached == [4, 1, 1, 1, 1, 1] and seen == [4, 5, 6, 7, 8, 9]


LOGITS = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, 3.0]])  # softmax: 0.2225, 0.0819, 0.0496, 0.0301, 0.0111, 0.6048


def test_top_k_keeps_exactly_the_k_largest():
    for k in (1, 2, 4, 6, 10):
        kept = torch.isfinite(top_k_filter(LOGITS, k))[0]
        assert kept.sum().item() == min(k, 6)
        assert set(kept.nonzero().flatten().tolist()) == set(LOGITS[0].topk(min(k, 6)).indices.tolist())
    torch.testing.assert_close(top_k_filter(LOGITS, 3)[0, [0, 1, 5]], LOGITS[0, [0, 1, 5]])  # kept ones unchanged


@pytest.mark.parametrize("p, kept", [(0.5, [5]), (0.6, [5]), (0.61, [5, 0]), (0.82, [5, 0]),
                                     (0.83, [5, 0, 1]), (0.95, [5, 0, 1, 2]), (0.97, [5, 0, 1, 2, 3]),
                                     (1.0, [5, 0, 1, 2, 3, 4])])
def test_top_p_keeps_the_smallest_set_with_mass_at_least_p(p, kept):
    probs = LOGITS.softmax(-1)[0]
    got = torch.isfinite(top_p_filter(LOGITS, p))[0].nonzero().flatten().tolist()
    assert sorted(got) == sorted(kept)
    assert probs[kept].sum() >= p - 1e-4  # enough mass ...
    assert probs[kept[:-1]].sum() < p  # ... and one token fewer would not be


def _wide_logits(seed: int, rows: int = 8, vocab: int = 1000) -> torch.Tensor:
    """Logits spread over about 60 nats: the tail tokens have probabilities far below 1e-8."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, vocab, generator=g) * 10.0


def test_top_p_of_one_keeps_every_token():
    # p = 1 is allowed by check_sampling and must be a no-op. Summing 1,000 float32 probabilities
    # rounds, so a running sum can reach 1.0 before the last tokens: they must not be dropped.
    for seed in range(200):
        logits = _wide_logits(seed)
        assert torch.equal(top_p_filter(logits, 1.0), logits), f"batch {seed} lost a token at p = 1"


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9, 0.999, 1 - 1e-6, 1 - 1e-9])
def test_top_p_keeps_the_top_token_and_a_smallest_set(p):
    for seed in range(20):
        logits = _wide_logits(seed)
        kept = torch.isfinite(top_p_filter(logits, p))
        assert kept.gather(-1, logits.argmax(-1, keepdim=True)).all()  # the most likely token always stays
        probs = logits.double().softmax(-1)
        mass = (probs * kept).sum(-1)
        # enough mass (up to float64 rounding) ...
        assert (mass >= min(p, 1.0) - 1e-12).all()
        # ... and dropping the least likely kept token would fall below p.
        least = probs.masked_fill(~kept, float("inf")).min(-1).values
        assert (mass - least < p).all()


def test_top_p_treats_tied_tokens_alike():
    # Four equal logits: no order among them, so they are kept or dropped together,
    # and the kept set does not depend on where the tokens sit in the vocabulary.
    logits = torch.tensor([[0.0, 2.0, 2.0, 2.0, 2.0, -1.0]])
    assert torch.isfinite(top_p_filter(logits, 0.3))[0].tolist() == [False, True, True, True, True, False]
    g = torch.Generator().manual_seed(0)
    base = torch.randint(-3, 4, (16, 200), generator=g).float()  # many ties
    for p in (0.2, 0.5, 0.8, 0.95):
        kept = torch.isfinite(top_p_filter(base, p))
        perm = torch.randperm(200, generator=g)
        assert torch.equal(torch.isfinite(top_p_filter(base[:, perm], p)), kept[:, perm])
        for row, mask in zip(base, kept):
            for value in row.unique():
                assert mask[row == value].all() or not mask[row == value].any()


def test_filters_work_row_by_row():
    logits = torch.stack([LOGITS[0], LOGITS[0].flip(0)])
    assert torch.isfinite(top_p_filter(logits, 0.65)).sum(-1).tolist() == [2, 2]
    assert torch.isfinite(top_k_filter(logits, 3)).sum(-1).tolist() == [3, 3]


def test_temperature_towards_zero_is_argmax():
    torch.manual_seed(0)
    logits = torch.randn(64, 30)
    assert torch.equal(sample_next(logits, temperature=0.0), logits.argmax(-1))
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next(logits, temperature=1e-3, generator=g), logits.argmax(-1))
    # and a high temperature flattens the distribution: many different tokens are drawn.
    draws = sample_next(logits[:1].expand(2000, -1), temperature=100.0, generator=g)
    assert draws.unique().numel() > 25


def test_top_k_one_is_greedy_whatever_the_temperature():
    torch.manual_seed(0)
    logits = torch.randn(16, 30)
    assert torch.equal(sample_next(logits, temperature=5.0, top_k=1, generator=torch.Generator()), logits.argmax(-1))


def test_sampling_follows_the_filtered_distribution():
    g = torch.Generator().manual_seed(0)
    draws = sample_next(LOGITS.expand(20000, -1), temperature=1.0, top_k=2, generator=g)
    share = (draws == 5).float().mean().item()
    p5, p0 = LOGITS.softmax(-1)[0, [5, 0]].tolist()
    assert set(draws.unique().tolist()) == {0, 5}
    assert share == pytest.approx(p5 / (p5 + p0), abs=0.01)  # renormalised over the two kept tokens


@pytest.mark.parametrize("kwargs, message", [
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ({"temperature": -0.5}, "temperature must be >= 0"),
    ({"temperature": float("nan")}, "temperature must be >= 0"),
    ({"top_k": 0}, "top_k must be >= 1"),
])
def test_bad_sampling_settings_are_one_line_errors(tiny_model, tiny_cfg, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        tiny_model.generate(prompt(tiny_cfg), 3, **kwargs)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=message):
        check_sampling(**({"temperature": 1.0, "top_k": None, "top_p": None} | kwargs))
