import pytest
import torch
from bert.model import BertConfig, BertForPreTraining


@pytest.fixture
def tiny_cfg() -> BertConfig:
    return BertConfig(vocab_size=40, d_model=16, n_heads=4, d_ff=32, n_layers=2, max_len=24, dropout=0.0,
                      attention_dropout=0.0)


@pytest.fixture
def tiny_model(tiny_cfg) -> BertForPreTraining:
    torch.manual_seed(0)
    return BertForPreTraining(tiny_cfg).eval()


@pytest.fixture
def batch(tiny_cfg):
    """ids [3, 10] with [CLS]=2 first, segment ids 0 then 1, and padding at the end of rows 0 and 2."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, tiny_cfg.vocab_size, (3, 10), generator=g)
    ids[:, 0] = 2
    ids[0, 7:] = 0
    ids[2, 5:] = 0
    segments = torch.zeros_like(ids)
    segments[:, 4:] = 1
    segments[ids == 0] = 0
    return ids, segments
