"""The decoder of the family: shapes, the causal mask, gradients, the parameter and compute accounting."""

import pytest
import torch
from gpt4_analysis.data import VOCAB
from gpt4_analysis.model import DecoderLM, ModelConfig, non_embedding_params, training_compute
from shared.testing import n_params


def tiny(d_model=8, n_heads=2):
    torch.manual_seed(0)
    return DecoderLM(ModelConfig(len(VOCAB), 18, d_model, 2, n_heads))


def test_logits_have_one_row_per_position_and_token():
    assert tiny()(torch.randint(0, len(VOCAB), (3, 10))).shape == (3, 10, len(VOCAB))


def test_causal_mask_hides_future_tokens():
    model = tiny()
    x = torch.randint(3, len(VOCAB), (2, 12))
    y = x.clone()
    y[:, 7:] = torch.randint(3, len(VOCAB), (2, 5))
    torch.testing.assert_close(model(x)[:, :7], model(y)[:, :7])
    assert not torch.allclose(model(x)[:, 7:], model(y)[:, 7:])


def test_gradient_reaches_every_parameter():
    model = tiny()
    model(torch.randint(0, len(VOCAB), (2, 9))).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_non_embedding_parameters_are_12_L_d_squared_plus_biases_and_norms():
    d, L = 8, 2
    model = tiny(d)
    per_block = 12 * d * d + 3 * d + d + 4 * d + d + 4 * d  # weights; qkv, o, mlp biases; two LayerNorms
    assert non_embedding_params(model) == L * per_block + 2 * d  # + the final LayerNorm
    assert n_params(model) - non_embedding_params(model) == (len(VOCAB) + 18) * d


def test_training_compute_is_six_n_d():
    assert training_compute(1000, 500) == 3_000_000.0


def test_bad_settings_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        ModelConfig(len(VOCAB), 18, 10, 2, 4)
    with pytest.raises(ValueError, match="d_model must be >= 1"):
        ModelConfig(len(VOCAB), 18, 0, 2, 1)
    with pytest.raises(ValueError, match="n_ctx=18"):
        tiny()(torch.zeros(1, 19, dtype=torch.long))
