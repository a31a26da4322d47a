"""The activation catalogue shared by the models and the lecture lab.

Each :class:`Activation` entry carries the function, its derivative written out by hand (no
autograd), the two formulas as text, the range and a one-sentence note on what it is used for.
``build_activation(name)`` gives a torch module for an entry: torch's own class wherever one exists,
so that models built from this catalogue behave exactly like plain PyTorch models.

The constants match torch's defaults (leaky slope 0.01, PReLU initial slope 0.25, ELU alpha 1,
SELU's fixed lambda and alpha, exact erf-based GELU, softplus threshold 20), so that the
hand-written derivatives can be checked against ``torch.autograd`` through torch's modules.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from nnml.errors import bad_choice

# SELU's constants from Klambauer et al. (2017), to the digits torch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_SLOPE = 0.01
PRELU_INIT = 0.25
ELU_ALPHA = 1.0
SOFTPLUS_THRESHOLD = 20.0  # above it torch returns x itself, as log(1 + e^x) == x in float32


@dataclass(frozen=True)
class Activation:
    """One catalogue entry: the function, its hand-written derivative and the lecture-notes text."""

    name: str
    fn: Callable[[Tensor], Tensor]
    grad: Callable[[Tensor], Tensor]
    formula: str
    derivative: str
    range: str
    use: str
    module: Callable[[], nn.Module]
    # Gradient used in backward passes when the true derivative is useless for learning (zero almost
    # everywhere); None means backward uses ``grad``.
    surrogate_grad: Callable[[Tensor], Tensor] | None = None

    def backward_grad(self, x: Tensor) -> Tensor:
        """The local gradient a backward pass multiplies by: the derivative, or the surrogate if any."""
        return (self.surrogate_grad or self.grad)(x)


def _step(x: Tensor) -> Tensor:
    return (x >= 0).to(x.dtype)


def _clipped_identity_grad(x: Tensor) -> Tensor:
    return ((x > -1) & (x < 1)).to(x.dtype)


class _StepSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _step(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * _clipped_identity_grad(x)


class BinaryStep(nn.Module):
    """Heaviside step H(x) = 1 if x >= 0 else 0, trained with a straight-through estimator.

    The true derivative is 0 wherever it exists, so no gradient would ever reach the layers below.
    The backward pass therefore uses the *clipped* straight-through estimator (Bengio, Leonard and
    Courville, 2013; Hubara et al., 2016, binarized networks): it passes the incoming gradient
    through unchanged where |x| < 1 and blocks it elsewhere, i.e. it pretends the forward pass was
    hardtanh. The clipping was chosen over the plain identity estimator because it stops the
    pre-activations from drifting ever further from 0, where flipping the step is no longer possible.
    """

    def forward(self, x: Tensor) -> Tensor:
        return _StepSTE.apply(x)


class Gaussian(nn.Module):
    """exp(-x^2): a bump rather than a ramp (radial-basis-like units); torch has no module for it."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.exp(-x * x)


def _phi(x: Tensor) -> Tensor:
    """Standard normal density."""
    return torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _Phi(x: Tensor) -> Tensor:
    """Standard normal distribution function."""
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _softplus(x: Tensor) -> Tensor:
    return torch.where(x > SOFTPLUS_THRESHOLD, x, torch.log1p(torch.exp(torch.clamp(x, max=SOFTPLUS_THRESHOLD))))


def _softplus_grad(x: Tensor) -> Tensor:
    return torch.where(x > SOFTPLUS_THRESHOLD, torch.ones_like(x), torch.sigmoid(x))


def _mish_grad(x: Tensor) -> Tensor:
    t = torch.tanh(_softplus(x))
    return t + x * (1 - t * t) * _softplus_grad(x)


def _entries() -> list[Activation]:
    sig = torch.sigmoid
    return [
        Activation(
            "identity", lambda x: x, torch.ones_like, "x", "1", "(-inf, inf)",
            "Output layers of regressions; hidden layers without it collapse into one linear map.",
            nn.Identity,
        ),
        Activation(
            "binary_step", _step, torch.zeros_like, "1 if x >= 0 else 0", "0 (undefined at 0)", "{0, 1}",
            "The perceptron's threshold unit; its zero derivative gives gradient descent nothing to follow.",
            BinaryStep, surrogate_grad=_clipped_identity_grad,
        ),
        Activation(
            "sigmoid", sig, lambda x: sig(x) * (1 - sig(x)), "1 / (1 + e^-x)", "s(x) (1 - s(x))", "(0, 1)",
            "Probabilities and gates; its derivative is at most 1/4, so deep stacks of it have vanishing gradients.",
            nn.Sigmoid,
        ),
        Activation(
            "tanh", torch.tanh, lambda x: 1 - torch.tanh(x) ** 2, "(e^x - e^-x) / (e^x + e^-x)", "1 - tanh(x)^2",
            "(-1, 1)", "Zero-centred sigmoid used in RNNs; still saturates, so gradients vanish for large |x|.",
            nn.Tanh,
        ),
        Activation(
            "hardtanh", lambda x: torch.clamp(x, -1, 1), _clipped_identity_grad, "clamp(x, -1, 1)",
            "1 if -1 < x < 1 else 0", "[-1, 1]",
            "Cheap piecewise-linear tanh for low-precision hardware; gradient is exactly 0 once saturated.",
            nn.Hardtanh,
        ),
        Activation(
            "relu", torch.relu, lambda x: (x > 0).to(x.dtype), "max(0, x)", "1 if x > 0 else 0", "[0, inf)",
            "Default for deep nets: no saturation for x > 0, but units stuck at x < 0 die (gradient 0 forever).",
            nn.ReLU,
        ),
        Activation(
            "leaky_relu", lambda x: torch.where(x > 0, x, LEAKY_SLOPE * x),
            lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, LEAKY_SLOPE)),
            f"x if x > 0 else {LEAKY_SLOPE} x", f"1 if x > 0 else {LEAKY_SLOPE}", "(-inf, inf)",
            "ReLU with a small negative slope so that no unit dies.",
            lambda: nn.LeakyReLU(LEAKY_SLOPE),
        ),
        Activation(
            "prelu", lambda x: torch.where(x > 0, x, PRELU_INIT * x),
            lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, PRELU_INIT)),
            "x if x > 0 else a x  (a learned, starts at 0.25)", "1 if x > 0 else a  (d/da: min(0, x))",
            "(-inf, inf)", "Leaky ReLU whose negative slope is learned (He et al., 2015).",
            lambda: nn.PReLU(init=PRELU_INIT),
        ),
        Activation(
            "elu", lambda x: torch.where(x > 0, x, ELU_ALPHA * torch.expm1(x)),
            lambda x: torch.where(x > 0, torch.ones_like(x), ELU_ALPHA * torch.exp(x)),
            "x if x > 0 else a (e^x - 1)  (a = 1)", "1 if x > 0 else a e^x", "(-a, inf)",
            "Smooth negative part pushes mean activations towards zero, which speeds learning.",
            lambda: nn.ELU(ELU_ALPHA),
        ),
        Activation(
            "selu", lambda x: SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * torch.expm1(x)),
            lambda x: SELU_SCALE * torch.where(x > 0, torch.ones_like(x), SELU_ALPHA * torch.exp(x)),
            "l (x if x > 0 else a (e^x - 1)),  l = 1.0507, a = 1.6733", "l (1 if x > 0 else a e^x)",
            "(-l a, inf)",
            "Self-normalizing: with LeCun-normal weights activations keep mean 0 and variance 1 layer after layer.",
            nn.SELU,
        ),
        Activation(
            "gelu", lambda x: x * _Phi(x), lambda x: _Phi(x) + x * _phi(x), "x Phi(x)  (Phi: normal CDF)",
            "Phi(x) + x phi(x)", "[-0.17, inf)",
            "Smooth ReLU weighting x by how likely it is positive; the default in transformers.",
            nn.GELU,
        ),
        Activation(
            "silu", lambda x: x * sig(x), lambda x: sig(x) * (1 + x * (1 - sig(x))), "x s(x)  (swish)",
            "s(x) (1 + x (1 - s(x)))", "[-0.28, inf)",
            "Smooth, non-monotonic ReLU found by search (swish); small negative outputs keep gradients alive.",
            nn.SiLU,
        ),
        Activation(
            "softplus", _softplus, _softplus_grad, "log(1 + e^x)", "s(x)", "(0, inf)",
            "Smooth ReLU; also maps any number to a positive one (variances, rates).",
            nn.Softplus,
        ),
        Activation(
            "softsign", lambda x: x / (1 + x.abs()), lambda x: 1 / (1 + x.abs()) ** 2, "x / (1 + |x|)",
            "1 / (1 + |x|)^2", "(-1, 1)",
            "Tanh-like but saturating polynomially, so its gradients vanish more slowly.",
            nn.Softsign,
        ),
        Activation(
            "mish", lambda x: x * torch.tanh(_softplus(x)), _mish_grad, "x tanh(softplus(x))",
            "tanh(sp(x)) + x (1 - tanh(sp(x))^2) s(x)", "[-0.31, inf)",
            "Smooth self-gated unit like swish, used in detection backbones (YOLOv4).",
            nn.Mish,
        ),
        Activation(
            "gaussian", lambda x: torch.exp(-x * x), lambda x: -2 * x * torch.exp(-x * x), "e^(-x^2)",
            "-2 x e^(-x^2)", "(0, 1]",
            "Local bump (RBF networks); not monotonic, so each unit responds to one region only.",
            Gaussian,
        ),
    ]


CATALOGUE: dict[str, Activation] = {a.name: a for a in _entries()}
NAMES = tuple(CATALOGUE)


def get_activation(name: str, key: str = "model.activation") -> Activation:
    """The catalogue entry ``name``; a clear error naming the valid ones otherwise."""
    if name not in CATALOGUE:
        raise bad_choice(key, name, NAMES)
    return CATALOGUE[name]


def build_activation(name: str) -> nn.Module:
    """A fresh module for the catalogue entry ``name``; a clear error naming the valid ones otherwise."""
    return get_activation(name).module()
