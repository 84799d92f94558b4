import pytest
import torch
from gpt1.model import GPT, GPTConfig


@pytest.fixture
def tiny_cfg() -> GPTConfig:
    return GPTConfig(vocab_size=23, n_positions=16, d_model=16, n_heads=4, d_ff=32, n_layers=2, dropout=0.0)


@pytest.fixture
def tiny_gpt(tiny_cfg) -> GPT:
    torch.manual_seed(0)
    return GPT(tiny_cfg).eval()
