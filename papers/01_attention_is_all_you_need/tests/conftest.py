import pytest
import torch
from attention_is_all_you_need.data import VOCAB
from attention_is_all_you_need.model import Transformer, TransformerConfig


@pytest.fixture
def tiny_cfg() -> TransformerConfig:
    return TransformerConfig(vocab_size=len(VOCAB), d_model=16, n_heads=4, d_ff=32, n_layers=2, dropout=0.0, max_len=32)


@pytest.fixture
def tiny_model(tiny_cfg) -> Transformer:
    torch.manual_seed(0)
    return Transformer(tiny_cfg).eval()
