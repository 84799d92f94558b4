import pytest
import torch
from palm.model import PaLM, PaLMConfig


def _tiny_cfg(**overrides) -> PaLMConfig:
    args = dict(vocab_size=20, d_model=16, n_heads=4, n_layers=2, max_len=32) | overrides
    return PaLMConfig(**args)


def _random_ids(batch=3, seq=10, vocab=20, seed=0) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def tiny_cfg():
    """tiny_cfg(**overrides) -> a small PaLMConfig (vocab 20, d_model 16, 4 heads, 2 layers, max_len 32)."""
    return _tiny_cfg


@pytest.fixture
def random_ids():
    """random_ids(batch=3, seq=10) -> token ids from a fixed seed."""
    return _random_ids


@pytest.fixture(params=["parallel", "serial"])
def block(request) -> str:
    return request.param


@pytest.fixture
def tiny_model(block) -> PaLM:
    torch.manual_seed(0)
    return PaLM(_tiny_cfg(block=block)).eval()

