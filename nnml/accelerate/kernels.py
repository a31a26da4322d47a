"""Which of torch's eager int8 kernels compute what their float layer computes, on this machine's quantized engine.

Some do not. In torch 2.13 the statically quantized transposed convolution (``ConvTranspose1d/2d``) of the x86,
fbgemm and onednn engines returns outputs whose relative error against the float layer is above 1 (qnnpack's is
0.01), which turned a U-Net's int8 mIoU into 0.03. Rather than trust a kernel, ``int8_static`` asks
:func:`static_kernel_error` for each layer kind the model has: a small random layer of that kind is quantized
exactly as the model's would be (same engine, same qconfig), calibrated on non-negative inputs (what follows a
ReLU) and compared with its float self. A kind whose relative error exceeds :data:`MAX_KERNEL_ERROR` stays float32
in the converted model (its input is dequantized before it and quantized again after it) and the variant's notes
name those layers. A torch whose kernels are fixed needs no change here: the probe then passes.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn

#: relative error (Frobenius norm of the difference over the float output's) above which a kernel is wrong;
#: correct int8 kernels of these shapes measure 0.005-0.02
MAX_KERNEL_ERROR = 0.1

_PROBES = {
    nn.Conv1d: (lambda: nn.Conv1d(16, 8, 3, padding=1), (4, 16, 12)),
    nn.Conv2d: (lambda: nn.Conv2d(16, 8, 3, padding=1), (4, 16, 8, 8)),
    nn.Conv3d: (lambda: nn.Conv3d(8, 4, 3, padding=1), (2, 8, 4, 4, 4)),
    nn.ConvTranspose1d: (lambda: nn.ConvTranspose1d(16, 8, 2, stride=2), (4, 16, 12)),
    nn.ConvTranspose2d: (lambda: nn.ConvTranspose2d(16, 8, 2, stride=2), (4, 16, 8, 8)),
    nn.ConvTranspose3d: (lambda: nn.ConvTranspose3d(8, 4, 2, stride=2), (2, 8, 4, 4, 4)),
    nn.Linear: (lambda: nn.Linear(32, 16), (16, 32)),
}


def per_tensor(qconfig):
    """The qconfig with per-tensor weights (per-channel observers are not supported for transposed convs)."""
    return torch.ao.quantization.QConfig(activation=qconfig.activation,
                                         weight=torch.ao.quantization.default_weight_observer)


def qconfig_for(kind: type, engine: str):
    qconfig = torch.ao.quantization.get_default_qconfig(engine)
    transposed = kind in (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    return per_tensor(qconfig) if transposed else qconfig


@functools.lru_cache(maxsize=None)
def static_kernel_error(kind: type, engine: str) -> float:
    """Relative error of the statically quantized ``kind`` against its float layer on ``engine`` (NaN for a kind
    this module has no probe for: it is then trusted)."""
    probe = _PROBES.get(kind)
    if probe is None:
        return float("nan")
    make, shape = probe
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(0)
            layer = make().eval()
            x = torch.relu(torch.randn(*shape))
            wrapped = torch.ao.quantization.QuantWrapper(nn.Sequential(layer))
            wrapped.qconfig = qconfig_for(kind, engine)
            prepared = torch.ao.quantization.prepare(wrapped, inplace=False)
            with torch.inference_mode():
                prepared(x)
                converted = torch.ao.quantization.convert(prepared, inplace=False)
                ref, got = layer(x), converted(x)
        return float((ref - got).norm() / ref.norm().clamp_min(1e-12))
    except (RuntimeError, NotImplementedError, AssertionError):
        return float("inf")  # the engine cannot run it at all
    finally:
        torch.backends.quantized.engine = previous


def broken_static_kinds(model: nn.Module, engine: str) -> dict[type, float]:
    """Layer kinds of ``model`` whose int8 kernel on ``engine`` is wrong: kind -> measured relative error."""
    kinds = {type(m) for m in model.modules() if type(m) in _PROBES}
    errors = {k: static_kernel_error(k, engine) for k in kinds}
    return {k: e for k, e in errors.items() if e > MAX_KERNEL_ERROR}


class FloatIsland(nn.Module):
    """A float layer inside an int8 model: dequantize its input, run it in float32, quantize its output (at the
    scale its own observer calibrates)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.dequant = torch.ao.quantization.DeQuantStub()
        self.module = module
        self.quant = torch.ao.quantization.QuantStub()
        module.qconfig = None  # stays float through prepare and convert

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quant(self.module(self.dequant(x)))


def isolate(model: nn.Module, kinds) -> list[str]:
    """Replace every layer of ``kinds`` in ``model`` (in place) by a :class:`FloatIsland`; returns their names."""
    names = []
    for name, m in list(model.named_modules()):
        if type(m) in kinds:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, FloatIsland(m))
            names.append(name)
    return names
