import pytest
import torch
from dalle.model import Model, ModelConfig


def test_output_shape():
    assert Model(ModelConfig())(torch.randn(5, 2)).shape == (5, 2)


def test_gradient_reaches_every_parameter():
    model = Model(ModelConfig())
    model(torch.randn(5, 2)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        ModelConfig(hidden=0)
    with pytest.raises(ValueError, match=r"x must be \[batch, d_in\]"):
        Model(ModelConfig())(torch.randn(2, 3, 2))
