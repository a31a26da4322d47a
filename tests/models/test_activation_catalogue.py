"""The catalogue's functions and hand-written derivatives against torch's own modules (float64)."""

import pytest
import torch
import torch.nn.functional as F

from nnml.errors import NnmlError
from nnml.models.activations import CATALOGUE, NAMES, build_activation

REQUIRED = {
    "identity", "binary_step", "sigmoid", "tanh", "hardtanh", "relu", "leaky_relu", "prelu", "elu", "selu",
    "gelu", "silu", "softplus", "softsign", "mish", "gaussian",
}


def _inputs():
    # Spread over both tails (softplus switches to x above 20) but away from the kinks at 0 and +-1,
    # where the one-sided derivatives differ and any convention would do.
    x = torch.cat([torch.linspace(-30, 30, 2001, dtype=torch.float64), torch.randn(500, dtype=torch.float64) * 3])
    return x[((x.abs() > 1e-6) & ((x.abs() - 1).abs() > 1e-6))]


def test_catalogue_covers_the_lecture():
    assert REQUIRED <= set(NAMES)
    for entry in CATALOGUE.values():
        assert entry.formula and entry.derivative and entry.range and entry.use.endswith(".")


@pytest.mark.parametrize("name", [n for n in NAMES if n != "binary_step"])
def test_function_and_derivative_match_torch_module(name):
    x = _inputs().requires_grad_(True)
    module = build_activation(name).double()
    y = module(x)
    (autograd,) = torch.autograd.grad(y.sum(), x)
    entry = CATALOGUE[name]
    with torch.no_grad():
        torch.testing.assert_close(entry.fn(x), y, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(entry.grad(x), autograd, rtol=1e-10, atol=1e-10)


def test_binary_step_is_heaviside_with_clipped_straight_through_gradient():
    x = _inputs().requires_grad_(True)
    y = build_activation("binary_step")(x)
    torch.testing.assert_close(y.detach(), torch.heaviside(x.detach(), torch.tensor(1.0, dtype=x.dtype)))
    (ste,) = torch.autograd.grad(y.sum(), x)
    (hardtanh,) = torch.autograd.grad(F.hardtanh(x).sum(), x)
    torch.testing.assert_close(ste, hardtanh)
    assert torch.equal(CATALOGUE["binary_step"].grad(x.detach()), torch.zeros_like(x))


def test_torch_classes_are_used_where_they_exist():
    assert type(build_activation("relu")) is torch.nn.ReLU
    assert type(build_activation("prelu")) is torch.nn.PReLU
    assert build_activation("relu") is not build_activation("relu")


def test_unknown_name_is_refused_with_the_choices():
    with pytest.raises(NnmlError, match=r"model\.activation=rleu .*did you mean 'relu'.*gaussian"):
        build_activation("rleu")
