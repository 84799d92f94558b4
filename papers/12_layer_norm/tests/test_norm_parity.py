"""Our layer norm and batch norm against PyTorch's (random weights, fp32), and the hand-written
backward pass against gradcheck's finite differences (float64)."""

import pytest
import torch
from layer_norm.model import BatchNorm, LayerNorm, LayerNormFunction
from torch import nn

SHAPES = [(4, 8), (2, 5, 16), (3, 2, 7, 32), (1, 64)]


def random_affine(ours: LayerNorm, ref: nn.LayerNorm) -> None:
    with torch.no_grad():
        ours.gain.normal_(1.0, 0.5)
        ours.bias.normal_(0.0, 0.5)
        ref.weight.copy_(ours.gain)
        ref.bias.copy_(ours.bias)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_layer_norm_matches_torch_forward_and_backward(shape, affine):
    torch.manual_seed(0)
    d_model = shape[-1]
    ours, ref = LayerNorm(d_model, elementwise_affine=affine), nn.LayerNorm(d_model, elementwise_affine=affine)
    if affine:
        random_affine(ours, ref)
    a = (torch.randn(shape) * 3 + 1).requires_grad_()  # off-centre and wide, so the statistics matter
    a_ref = a.detach().clone().requires_grad_()
    y, y_ref = ours(a), ref(a_ref)
    torch.testing.assert_close(y, y_ref, atol=1e-6, rtol=1e-5)
    dy = torch.randn(shape)
    y.backward(dy)
    y_ref.backward(dy)
    torch.testing.assert_close(a.grad, a_ref.grad, atol=1e-6, rtol=1e-5)
    if affine:
        torch.testing.assert_close(ours.gain.grad, ref.weight.grad, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.bias.grad, ref.bias.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("normalized_shape", [5, (5,), (4, 5), (3, 4, 5)], ids=str)
def test_normalized_shape_like_torch(normalized_shape, affine):
    # An int or a tuple, as torch.nn.LayerNorm takes it: statistics over the last len(shape) dimensions,
    # gain and bias of that shape.
    torch.manual_seed(0)
    ours = LayerNorm(normalized_shape, elementwise_affine=affine)
    ref = nn.LayerNorm(normalized_shape, elementwise_affine=affine)
    if affine:
        assert ours.gain.shape == ref.weight.shape and ours.bias.shape == ref.bias.shape
        random_affine(ours, ref)
    a = (torch.randn(2, 3, 4, 5) * 3 + 1).requires_grad_()
    a_ref = a.detach().clone().requires_grad_()
    y, y_ref = ours(a), ref(a_ref)
    torch.testing.assert_close(y, y_ref, atol=1e-6, rtol=1e-5)
    dy = torch.randn(a.shape)
    y.backward(dy)
    y_ref.backward(dy)
    torch.testing.assert_close(a.grad, a_ref.grad, atol=1e-5, rtol=1e-5)
    if affine:
        torch.testing.assert_close(ours.gain.grad, ref.weight.grad, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.bias.grad, ref.bias.grad, atol=1e-5, rtol=1e-5)


def test_two_dimensional_normalized_shape_passes_gradgradcheck():
    torch.manual_seed(0)
    ln = LayerNorm((3, 4)).double()
    with torch.no_grad():
        ln.gain.normal_(1.0, 0.5)
        ln.bias.normal_(0.0, 0.5)
    a = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)

    def f(a, g, b):
        return torch.func.functional_call(ln, {"gain": g, "bias": b}, (a,))

    inputs = (a, ln.gain.detach().clone().requires_grad_(), ln.bias.detach().clone().requires_grad_())
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LayerNorm((4, 5))(torch.randn(2, 5, 4)), r"expects \[\.\.\., 4, 5\] inputs, got \[2, 5, 4\]"),
        (lambda: LayerNorm((4, 5))(torch.randn(5)), r"expects \[\.\.\., 4, 5\] inputs, got \[5\]"),
        (lambda: LayerNorm((4, 0)), r"normalized_shape sizes must be >= 1, got \(4, 0\)"),
        (lambda: LayerNorm(-3), r"normalized_shape sizes must be >= 1, got \(-3,\)"),
        (lambda: LayerNorm(()), "normalized_shape must name at least one dimension"),
        (lambda: LayerNorm((4, 2.5)), "normalized_shape sizes must be integers"),
        (lambda: LayerNorm((1, 1)), "d_model >= 2"),
        (lambda: LayerNorm(8, eps=-1e-5), "eps must be >= 0"),
    ],
)
def test_impossible_normalized_shape_or_input_is_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(3, 6), (2, 3, 5)], ids=str)
def test_hand_written_backward_passes_gradcheck(shape, affine):
    torch.manual_seed(0)
    a = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    gain = torch.randn(shape[-1], dtype=torch.float64, requires_grad=True) if affine else None
    bias = torch.randn(shape[-1], dtype=torch.float64, requires_grad=True) if affine else None
    assert torch.autograd.gradcheck(lambda a, g, b: LayerNormFunction.apply(a, g, b, 1e-5), (a, gain, bias))


def test_hand_written_backward_equals_autograd_of_the_formula():
    torch.manual_seed(1)
    a = torch.randn(5, 9, dtype=torch.float64, requires_grad=True)
    g = torch.randn(9, dtype=torch.float64, requires_grad=True)
    b = torch.randn(9, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(5, 9, dtype=torch.float64)
    ours = torch.autograd.grad(LayerNormFunction.apply(a, g, b, 1e-5), (a, g, b), dy)
    mu = a.mean(-1, keepdim=True)
    sigma = ((a - mu) ** 2).mean(-1, keepdim=True).add(1e-5).sqrt()
    plain = torch.autograd.grad(g * (a - mu) / sigma + b, (a, g, b), dy)
    for x, y in zip(ours, plain):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(3, 6), (2, 3, 5)], ids=str)
def test_backward_is_itself_differentiable_gradgradcheck(shape, affine):
    # Second derivatives (a gradient penalty, Hessian-vector products) differentiate the backward
    # pass, so it has to be built from the inputs with operations autograd can follow.
    torch.manual_seed(0)
    a = (torch.randn(shape, dtype=torch.float64) * 2 + 1).requires_grad_()
    gain = torch.randn(shape[-1], dtype=torch.float64, requires_grad=True) if affine else None
    bias = torch.randn(shape[-1], dtype=torch.float64, requires_grad=True) if affine else None
    assert torch.autograd.gradgradcheck(lambda a, g, b: LayerNormFunction.apply(a, g, b, 1e-5), (a, gain, bias))


def test_gradient_penalty_equals_torch_layer_norm():
    # What a gradient-penalty user computes: the squared input gradient, then its gradient.
    torch.manual_seed(2)
    a = (torch.randn(4, 6, dtype=torch.float64) * 2 + 1).requires_grad_()
    g = torch.randn(6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 6, dtype=torch.float64)

    def penalty_grads(norm):
        (d_a,) = torch.autograd.grad((norm(a, g, b) * w).sum(), a, create_graph=True)
        return torch.autograd.grad(d_a.pow(2).sum(), (a, g), allow_unused=True)

    ours = penalty_grads(lambda a, g, b: LayerNormFunction.apply(a, g, b, 1e-5))
    ref = penalty_grads(lambda a, g, b: nn.functional.layer_norm(a, (6,), g, b, 1e-5))
    for name, x, y in zip(("input", "gain"), ours, ref):
        assert x is not None, f"no second derivative with respect to the {name}"
        torch.testing.assert_close(x, y)


def test_input_gradient_sums_to_zero_per_case():
    # mu absorbs any shift of all a_i together, so the gradient has no component along (1, ..., 1).
    a = torch.randn(4, 10, requires_grad=True)
    (LayerNorm(10)(a) * torch.randn(4, 10)).sum().backward()
    torch.testing.assert_close(a.grad.sum(-1), torch.zeros(4), atol=1e-6, rtol=0)


def test_batch_norm_matches_torch_in_training_and_evaluation():
    torch.manual_seed(0)
    ours, ref = BatchNorm(12), nn.BatchNorm1d(12)
    with torch.no_grad():
        ours.gain.normal_(1.0, 0.5)
        ours.bias.normal_(0.0, 0.5)
        ref.weight.copy_(ours.gain)
        ref.bias.copy_(ours.bias)
    for _ in range(4):  # training mode: batch statistics, and the running averages move the same way
        a = (torch.randn(16, 12) * 2 + 3).requires_grad_()
        a_ref = a.detach().clone().requires_grad_()
        y, y_ref = ours(a), ref(a_ref)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
        dy = torch.randn(16, 12)
        y.backward(dy)
        y_ref.backward(dy)
        torch.testing.assert_close(a.grad, a_ref.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    a = torch.randn(5, 12)
    torch.testing.assert_close(ours(a), ref(a), atol=1e-5, rtol=1e-5)
