import pytest
import torch
from lora.model import GPT, GPTConfig


@pytest.fixture
def tiny_cfg() -> GPTConfig:
    return GPTConfig(vocab_size=23, n_positions=16, d_model=16, n_heads=4, d_ff=32, n_layers=2)


@pytest.fixture
def tiny_gpt(tiny_cfg) -> GPT:
    torch.manual_seed(0)
    return GPT(tiny_cfg).eval()


@pytest.fixture
def ids(tiny_cfg) -> torch.Tensor:
    return torch.randint(0, tiny_cfg.vocab_size, (3, 12), generator=torch.Generator().manual_seed(1))
