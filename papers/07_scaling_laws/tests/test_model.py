"""The decoder and the paper's accounting: shapes, the causal mask, gradients, N and C = 6 N."""

import pytest
import torch
from scaling_laws.model import (
    DecoderLM,
    ModelConfig,
    approx_params,
    exact_params,
    forward_flops_per_token,
    non_embedding_params,
    table1_params,
    training_flops,
)
from torch.utils.flop_counter import FlopCounterMode

VOCAB = 36


def tiny(d_model=16, n_layers=2, n_heads=4, n_ctx=16) -> DecoderLM:
    torch.manual_seed(0)
    return DecoderLM(ModelConfig(VOCAB, n_ctx, d_model, n_layers, n_heads))


def test_logits_have_one_row_per_position_and_vocabulary_entry():
    assert tiny()(torch.randint(0, VOCAB, (3, 10))).shape == (3, 10, VOCAB)


def test_causal_mask_hides_future():
    model = tiny()
    x = torch.randint(0, VOCAB, (2, 12))
    changed = x.clone()
    changed[:, 7:] = (changed[:, 7:] + 5) % VOCAB  # change every token from position 7 on
    before, after = model(x), model(changed)
    torch.testing.assert_close(before[:, :7], after[:, :7])  # positions 0..6 cannot see them
    assert not torch.allclose(before[:, 7:], after[:, 7:])  # and the change is visible from 7 on


def test_gradient_reaches_every_parameter():
    model = tiny()
    model(torch.randint(0, VOCAB, (2, 12))).logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("n_layers", "d_model"), [(1, 8), (2, 16), (2, 64), (4, 24)])
def test_exact_non_embedding_count_is_twelve_n_d_squared_plus_biases_and_norms(n_layers, d_model):
    model = tiny(d_model=d_model, n_layers=n_layers, n_heads=4)
    n = non_embedding_params(model)
    assert n == exact_params(n_layers, d_model) == 12 * n_layers * d_model**2 + 13 * n_layers * d_model + 2 * d_model
    # Table 1 with d_attn = d_model and d_ff = 4 d_model is the 12 n d² approximation...
    assert table1_params(n_layers, d_model, d_model, 4 * d_model) == approx_params(n_layers, d_model)
    # ...which leaves out only the biases and LayerNorms: a relative error of (13 n d + 2 d) / (12 n d²).
    assert (n - approx_params(n_layers, d_model)) / approx_params(n_layers, d_model) == pytest.approx(
        (13 * n_layers + 2) / (12 * n_layers * d_model))


def test_table1_count_matches_the_weights_of_a_model_with_other_widths():
    # d_ff = 2 d_model: Table 1's 2 d n (2 d_attn + d_ff) still counts the weight matrices exactly.
    model = DecoderLM(ModelConfig(VOCAB, 16, 24, 3, 4, d_ff=48))
    weights = sum(p.numel() for name, p in model.named_parameters() if name.startswith("blocks") and p.dim() == 2)
    assert weights == table1_params(3, 24, 24, 48)


def test_embeddings_are_not_in_n():
    small, big_vocab = tiny(), DecoderLM(ModelConfig(500, 64, 16, 2, 4))
    assert non_embedding_params(small) == non_embedding_params(big_vocab)
    assert sum(p.numel() for p in big_vocab.parameters()) > sum(p.numel() for p in small.parameters())


def test_training_matmuls_cost_six_n_flops_per_token():
    """PyTorch's FLOP counter, forward plus backward: the weight matrices of the blocks cost exactly
    6 x (12 n d²) per token; the tied output layer adds 6 x vocab x d; attention's scores are separate."""
    n_layers, d_model, batch, t = 2, 16, 2, 16
    model = tiny(d_model=d_model, n_layers=n_layers)
    with FlopCounterMode(display=False) as counter:
        model(torch.randint(0, VOCAB, (batch, t))).sum().backward()
    counts = counter.get_flop_counts()["Global"]
    matmuls = sum(v for op, v in counts.items() if str(op) in ("aten.addmm", "aten.mm"))
    tokens = batch * t
    assert matmuls == training_flops(approx_params(n_layers, d_model), tokens) + 6 * VOCAB * d_model * tokens
    assert training_flops(1000, 10) == 60_000


def test_forward_flops_of_table1():
    assert forward_flops_per_token(1000, n_layers=2, n_ctx=16, d_attn=8) == 2 * 1000 + 2 * 2 * 16 * 8


def test_bad_settings_and_inputs_are_one_line_errors():
    with pytest.raises(ValueError, match="d_model"):
        ModelConfig(VOCAB, 16, 10, 2, 4)
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        ModelConfig(VOCAB, 16, 8, 0, 4)
    with pytest.raises(ValueError, match=r"token ids \[batch, seq\]"):
        tiny()(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds the context"):
        tiny(n_ctx=8)(torch.zeros(1, 9, dtype=torch.long))
