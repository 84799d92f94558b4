"""Unit tests: the definitions, shapes, the recurrence, batch size 1, gradient flow, bad input."""

import pytest
import torch
from layer_norm.data import ALPHABET, NormComparisonData, decode_text, encode_text, windows
from layer_norm.lightning import NormComparison, variant_names
from layer_norm.model import MLP, NORMS, BatchNorm, CharRNN, LayerNorm, MLPConfig, RNNConfig, make_norm


def test_layer_norm_standardises_each_case_over_its_units():
    a = torch.randn(3, 4, 50) * 5 + 2
    y = LayerNorm(50)(a)  # gain 1, bias 0 at initialisation
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(3, 4), atol=1e-3, rtol=0)


def test_layer_norm_is_the_same_in_training_and_evaluation():
    ln, a = LayerNorm(8), torch.randn(5, 8)
    torch.testing.assert_close(ln.train()(a), ln.eval()(a))
    assert not list(ln.buffers())  # no running statistics to keep


def test_batch_norm_standardises_each_unit_over_the_batch_and_differs_in_evaluation():
    bn, a = BatchNorm(6), torch.randn(32, 6) * 4 + 1
    y = bn(a)
    torch.testing.assert_close(y.mean(0), torch.zeros(6), atol=1e-5, rtol=0)
    assert not torch.allclose(bn.eval()(a), y, atol=1e-2)


def test_batch_norm_with_one_case_outputs_only_its_bias_and_passes_no_gradient():
    bn = BatchNorm(6)
    with torch.no_grad():
        bn.bias.copy_(torch.arange(6.0))
    a = torch.randn(1, 6, requires_grad=True)
    y = bn(a)
    torch.testing.assert_close(y, bn.bias.detach()[None])  # a - mu = 0 whatever the input was
    y.sum().backward()
    assert a.grad.abs().max() == 0  # nothing below the layer can learn
    assert bn.gain.grad.abs().max() == 0


def test_mlp_shapes_and_batch_of_one():
    for norm in NORMS:
        model = MLP(MLPConfig(norm=norm))
        assert model(torch.randn(7, 64)).shape == (7, 10)
    ln_model = MLP(MLPConfig(norm="layer"))
    x = torch.randn(5, 64)
    # Layer norm treats every case on its own: a batch gives the same answers as one case at a time.
    torch.testing.assert_close(ln_model(x), torch.cat([ln_model(x[i : i + 1]) for i in range(5)]))


def test_rnn_is_causal_and_handles_any_length():
    torch.manual_seed(0)
    for norm in ("none", "layer"):  # (batch norm mixes cases, not time steps; see the next test)
        model = CharRNN(RNNConfig(vocab_size=11, d_model=16, norm=norm)).eval()
        ids = torch.randint(0, 11, (3, 9))
        changed = ids.clone()
        changed[:, 5:] = (changed[:, 5:] + 1) % 11
        a, b = model(ids), model(changed)
        assert a.shape == (3, 9, 11)
        torch.testing.assert_close(a[:, :5], b[:, :5])  # the state at t never saw tokens after t
        assert not torch.allclose(a[:, 5:], b[:, 5:])
        assert model(torch.randint(0, 11, (1, 40))).shape == (1, 40, 11)


def test_rnn_hidden_state_is_layer_normalised_before_tanh():
    model = CharRNN(RNNConfig(vocab_size=11, d_model=16, norm="layer"))
    h = model.rnn(model.embed(torch.randint(0, 11, (2, 6))))
    pre = torch.atanh(h.clamp(-1 + 1e-6, 1 - 1e-6))  # gain 1 and bias 0: tanh^-1(h) = a_hat
    torch.testing.assert_close(pre.mean(-1), torch.zeros(2, 6), atol=1e-3, rtol=0)


def test_rnn_batch_norm_mixes_cases_in_training():
    torch.manual_seed(0)
    model = CharRNN(RNNConfig(vocab_size=11, d_model=16, norm="batch")).train()
    ids = torch.randint(0, 11, (4, 5))
    changed = ids.clone()
    changed[3] = (changed[3] + 1) % 11
    assert not torch.allclose(model(ids)[0], model(changed)[0])  # case 0 depends on case 3


def test_every_variant_starts_from_the_same_weights():
    module = NormComparison(rnn_d_model=16, d_embed=8, mlp_d_model=16)
    for group in ("rnn", "mlp", "mlp1"):
        weights = [{n: p for n, p in module.models[f"{group}_{norm}"].named_parameters() if "norm" not in n}
                   for norm in NORMS]
        assert weights[0].keys() == weights[1].keys() == weights[2].keys()
        for name in weights[0]:
            assert torch.equal(weights[0][name], weights[1][name]) and torch.equal(weights[0][name], weights[2][name])


def test_gradient_reaches_every_parameter_of_every_variant():
    module = NormComparison(rnn_d_model=16, d_embed=8, mlp_d_model=16)
    for name in variant_names():
        model = module.models[name]
        x = torch.randint(0, len(ALPHABET), (4, 6)) if name.startswith("rnn") else torch.randn(4, 64)
        model(x).logsumexp(-1).sum().backward()
        for pname, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}.{pname}"


def test_text_encoding_and_windows():
    ids = encode_text("To be, or NOT to be?\n")
    assert decode_text(ids) == "to be, or not to be?\n"
    assert decode_text(encode_text("café")) == "caf "  # characters outside the alphabet become spaces
    x, y = windows(torch.arange(10), 3).tensors
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LayerNorm(1), "d_model >= 2"),
        (lambda: LayerNorm(8)(torch.randn(2, 7)), r"expects \[\.\.\., 8\]"),
        (lambda: BatchNorm(8)(torch.randn(2, 3, 8)), r"expects \[batch, 8\]"),
        (lambda: BatchNorm(8, momentum=0.0), "momentum"),
        (lambda: make_norm("group", 8), "norm must be one of"),
        (lambda: MLPConfig(norm="rms"), "norm must be one of"),
        (lambda: MLPConfig(d_model=0), "d_model must be >= 1"),
        (lambda: MLP(MLPConfig())(torch.randn(2, 8, 8)), r"x must be \[batch, 64\]"),
        (lambda: CharRNN(RNNConfig())(torch.zeros(2, 3, 4, dtype=torch.long)), "ids must be character ids"),
        (lambda: windows(torch.arange(5), 8), "too short for data.seq_len"),
        (lambda: NormComparisonData(seq_len=0), "data.seq_len must be >= 1"),
        (lambda: NormComparisonData(plays=()), "data.plays"),
        (lambda: NormComparison(lr=0), "model.lr must be > 0"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(make, message):
    with pytest.raises(ValueError, match=message):
        make()
