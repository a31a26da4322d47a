"""Hand-written backward passes against torch.autograd, float64, to 1e-10."""

import pytest
import torch
import torch.nn.functional as F

from nnml.lab.layers import Activation, Linear, PReLU, Sequential
from nnml.lab.losses import MSELoss, SoftmaxCrossEntropy
from nnml.models.activations import NAMES, build_activation

TOL = dict(rtol=0, atol=1e-10)


def _leaf(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float64) * scale).requires_grad_(True)


def test_linear_matches_autograd():
    torch.manual_seed(0)
    x, w, b = _leaf(7, 5), _leaf(3, 5), _leaf(3)
    g = torch.randn(7, 3, dtype=torch.float64)
    layer = Linear(w.detach(), b.detach())
    y = layer(x.detach())
    grad_x = layer.backward(g)
    ref = F.linear(x, w, b)
    torch.testing.assert_close(y, ref.detach(), **TOL)
    ref_x, ref_w, ref_b = torch.autograd.grad(ref, (x, w, b), g)
    torch.testing.assert_close(grad_x, ref_x, **TOL)
    torch.testing.assert_close(layer.grads[0], ref_w, **TOL)
    torch.testing.assert_close(layer.grads[1], ref_b, **TOL)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("prelu", "binary_step")])
def test_activation_layer_matches_autograd_of_torch_module(name):
    torch.manual_seed(1)
    x = _leaf(6, 9, scale=3)
    g = torch.randn(6, 9, dtype=torch.float64)
    layer = Activation(name)
    y = layer(x.detach())
    ref = build_activation(name).double()(x)
    torch.testing.assert_close(y, ref.detach(), **TOL)
    (ref_x,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(layer.backward(g), ref_x, **TOL)


def test_binary_step_layer_backpropagates_the_hardtanh_gradient():
    torch.manual_seed(2)
    x = _leaf(50, scale=2)
    g = torch.randn(50, dtype=torch.float64)
    layer = Activation("binary_step")
    torch.testing.assert_close(layer(x.detach()), (x.detach() >= 0).double())
    (ref_x,) = torch.autograd.grad(F.hardtanh(x), x, g)
    torch.testing.assert_close(layer.backward(g), ref_x, **TOL)


def test_prelu_matches_torch_prelu_including_its_slope():
    torch.manual_seed(3)
    x, a = _leaf(8, 4), torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    g = torch.randn(8, 4, dtype=torch.float64)
    layer = PReLU(a.detach())
    torch.testing.assert_close(layer(x.detach()), F.prelu(x, a).detach(), **TOL)
    ref_x, ref_a = torch.autograd.grad(F.prelu(x, a), (x, a), g)
    torch.testing.assert_close(layer.backward(g), ref_x, **TOL)
    torch.testing.assert_close(layer.grads[0], ref_a, **TOL)


def test_mse_loss_matches_torch():
    torch.manual_seed(4)
    p, t = _leaf(10, 3), torch.randn(10, 3, dtype=torch.float64)
    loss = MSELoss()
    torch.testing.assert_close(loss(p.detach(), t), F.mse_loss(p, t).detach(), **TOL)
    (ref,) = torch.autograd.grad(F.mse_loss(p, t), p)
    torch.testing.assert_close(loss.backward(), ref, **TOL)


def test_softmax_cross_entropy_matches_torch_even_for_huge_logits():
    torch.manual_seed(5)
    z = _leaf(12, 5, scale=400)  # exp(400) overflows float64 without the max shift
    y = torch.randint(0, 5, (12,))
    loss = SoftmaxCrossEntropy()
    value = loss(z.detach(), y)
    ref = F.cross_entropy(z, y)
    torch.testing.assert_close(value, ref.detach(), rtol=1e-12, atol=1e-10)
    (ref_z,) = torch.autograd.grad(ref, z)
    torch.testing.assert_close(loss.backward(), ref_z, **TOL)


def test_sequential_network_with_loss_matches_autograd_end_to_end():
    torch.manual_seed(6)
    x = _leaf(16, 4)
    w1, b1, w2, b2 = _leaf(8, 4), _leaf(8), _leaf(3, 8), _leaf(3)
    y = torch.randint(0, 3, (16,))
    net = Sequential(Linear(w1.detach(), b1.detach()), Activation("tanh"), Linear(w2.detach(), b2.detach()))
    loss = SoftmaxCrossEntropy()
    loss(net(x.detach()), y)
    grad_x = net.backward(loss.backward())
    ref = F.cross_entropy(F.linear(torch.tanh(F.linear(x, w1, b1)), w2, b2), y)
    refs = torch.autograd.grad(ref, (x, w1, b1, w2, b2))
    torch.testing.assert_close(grad_x, refs[0], **TOL)
    for mine, theirs in zip(net.grads, refs[1:]):
        torch.testing.assert_close(mine, theirs, **TOL)
