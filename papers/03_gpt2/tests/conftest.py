import pytest
import torch
from gpt2.model import GPT2, GPT2Config


@pytest.fixture
def tiny_cfg() -> GPT2Config:
    return GPT2Config(vocab_size=50, n_ctx=16, d_model=32, n_heads=4, n_layers=2)


@pytest.fixture
def tiny_model(tiny_cfg) -> GPT2:
    torch.manual_seed(0)
    return GPT2(tiny_cfg).eval()


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """A 60,000-character slice of the embedded plays, as a user's own text file: fast CLI tests."""
    from shared.data import load_shakespeare

    path = tmp_path_factory.mktemp("corpus") / "plays.txt"
    path.write_text(load_shakespeare(("hamlet",))[:60_000])
    return path
