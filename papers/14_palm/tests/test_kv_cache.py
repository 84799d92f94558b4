"""Generation with a KV cache: the same tokens as without it, and multi-query attention's cache is H times smaller."""

import pytest
import torch
from palm.model import PaLM, kv_cache_elements


@pytest.mark.parametrize("multi_query", [True, False])
def test_cached_generation_equals_uncached(block, multi_query, tiny_cfg, random_ids):
    torch.manual_seed(0)
    model = PaLM(tiny_cfg(block=block, multi_query=multi_query)).eval()
    prompt = random_ids(batch=2, seq=5)
    cached = model.generate(prompt, 20, use_cache=True)
    uncached = model.generate(prompt, 20, use_cache=False)
    assert cached.shape == (2, 25)
    assert torch.equal(cached, uncached)


def test_cached_logits_equal_full_forward_in_any_chunking(tiny_model, random_ids):
    ids = random_ids(batch=2, seq=12)
    full = tiny_model(ids)
    cache = tiny_model.new_cache()
    chunks = [tiny_model(ids[:, a:b], cache) for a, b in ((0, 5), (5, 6), (6, 10), (10, 12))]
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, atol=1e-5, rtol=1e-5)
    assert all(len(c) == 12 for c in cache)


def test_sampling_is_reproducible_with_a_generator(tiny_model, random_ids):
    prompt = random_ids(batch=1, seq=3)
    runs = [tiny_model.generate(prompt, 10, temperature=1.0, generator=torch.Generator().manual_seed(1))
            for _ in range(2)]
    assert torch.equal(*runs)


def test_multi_query_cache_is_n_heads_times_smaller(tiny_cfg, random_ids):
    n_heads, batch, seq = 4, 2, 9
    caches = {}
    for multi_query in (True, False):
        torch.manual_seed(0)
        cfg = tiny_cfg(multi_query=multi_query, n_heads=n_heads)
        model = PaLM(cfg).eval()
        cache = model.new_cache()
        model(random_ids(batch=batch, seq=seq), cache)
        caches[multi_query] = sum(c.numel() for c in cache)
        assert cache[0].k.shape == (batch, cfg.n_kv_heads, seq, cfg.d_head)
        assert caches[multi_query] == kv_cache_elements(cfg, batch, seq)
    assert caches[False] == n_heads * caches[True]
