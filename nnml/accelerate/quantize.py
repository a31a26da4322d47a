"""Int8 post-training quantization: dynamic (linear and recurrent layers) and static (convolutional models).

Dynamic: ``torch.ao.quantization.quantize_dynamic`` stores Linear/LSTM/GRU weights as int8 and quantizes
activations on the fly per batch; no calibration. It is deprecated in favour of torchao but still works and is
what runs int8 kernels on CPU without a compiler. Convolutions stay float32: torch's dynamic int8 convolution
(``torch.ao.nn.quantized.dynamic.Conv2d``, op ``quantized::conv2d_dynamic``; not in torch's default mapping)
returns its output rounded to the int8 grid of its *input* (the input's scale and zero point, with
``reduce_range``): after a ReLU the input's zero point is 0, so every negative output becomes 0 and outputs beyond
about twice the input's maximum saturate. On a U-Net (conv -> BatchNorm -> ReLU, where BatchNorm needs the
negative values) that collapsed the test mIoU from 0.86 to 0.17, every pixel predicted background;
``tests/accelerate/test_quantize.py`` measures the kernel against the float convolution, so a torch that fixes it
shows up as a failing test. The notes name the convolutions kept float; ``int8_static`` quantizes them.

Static: the eager path (``QuantWrapper`` -> fuse conv/linear + ReLU (+ BatchNorm) -> ``prepare`` -> calibrate on
training batches -> ``convert``). Why eager rather than torchao's PT2E: in torch 2.13 the eager path converts to
real fbgemm/x86 int8 kernels that run as they are (measured here 8-11 ms against 91-104 ms fp32 on a toy CNN),
and the converted model saves as a plain state dict that loads with ``weights_only=True``, so ``nnml eval`` can
rebuild it. torchao 0.18's ``prepare_pt2e``/``convert_pt2e`` with ``X86InductorQuantizer`` gives a graph of
quantize/dequantize ops around float kernels, which is only faster after ``torch.compile`` lowers it (another
~20 s compile per shape) and is saved as an exported program rather than weights. The eager path needs a model
written as modules (functional adds or concatenations need FloatFunctional); models it cannot run are skipped
with the reason.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from nnml.accelerate.variant import MethodContext, Skip, Variant, layers_of

DYNAMIC_KINDS = (nn.Linear, nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell, nn.RNNCell)
CONV_KINDS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ACT = (nn.ReLU,)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _engine() -> str:
    engines = torch.backends.quantized.supported_engines
    engine = "x86" if "x86" in engines else "fbgemm" if "fbgemm" in engines else "qnnpack"
    torch.backends.quantized.engine = engine
    return engine


# ---------------------------------------------------------------- dynamic
def dynamic_quantize(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with its Linear and recurrent layers dynamically quantized (torch's default mapping);
    convolutions stay float (see the module docstring)."""
    from torch.ao.quantization import default_dynamic_qconfig

    _engine()
    kinds = {type(m): default_dynamic_qconfig for _, m in layers_of(model, DYNAMIC_KINDS)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), kinds, dtype=torch.qint8)


def named(layers: list[tuple[str, nn.Module]], limit: int = 4) -> str:
    """``3 Conv2d (features.0, features.3, head.0)``: how many layers of which kinds, and their names."""
    kinds = "/".join(sorted({type(m).__name__ for _, m in layers}))
    names = [n for n, _ in layers]
    shown = ", ".join(names[:limit]) + (f", ... {len(names) - limit} more" if len(names) > limit else "")
    return f"{len(layers)} {kinds} ({shown})"


CONV_KEPT_FLOAT = ("torch's dynamic int8 convolution rounds its output to its input's int8 grid (after a ReLU every "
                   "negative output becomes 0)")


def int8_dynamic(model: nn.Module, ctx: MethodContext) -> Variant:
    found = layers_of(model, DYNAMIC_KINDS)
    convs = layers_of(model, CONV_KINDS)
    kept = f"kept float32: {named(convs)}: {CONV_KEPT_FLOAT}" if convs else ""
    if not found:
        raise Skip("the model has no Linear or recurrent (LSTM/GRU) layer to quantize"
                   + (f"; its {len(convs)} convolutions stay float32 because {CONV_KEPT_FLOAT}; int8_static "
                      f"quantizes convolutions" if convs else ""))
    q = dynamic_quantize(model)
    path = ctx.out_dir / "model.pt"
    torch.save(q.state_dict(), path)
    notes = [f"int8 weights: {named(found)}"] + ([kept] if kept else [])
    return Variant("int8_dynamic", q, float_model=model, files=[path], notes=notes,
                   extra={"float_layers": [n for n, _ in convs]})


# ---------------------------------------------------------------- static
def fusion_groups(model: nn.Module) -> list[list[str]]:
    """Names of consecutive (Conv|Linear) [BatchNorm] [ReLU] children inside Sequential containers: the patterns
    eager quantization fuses into one int8 kernel."""
    groups = []
    for prefix, seq in model.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        i = 0
        while i < len(names):
            m = seq._modules[names[i]]
            if isinstance(m, (*CONV_KINDS, nn.Linear)):
                group = [names[i]]
                j = i + 1
                if isinstance(m, CONV_KINDS) and j < len(names) and isinstance(seq._modules[names[j]], _BN):
                    group.append(names[j])
                    j += 1
                if j < len(names) and isinstance(seq._modules[names[j]], _ACT):
                    group.append(names[j])
                    j += 1
                if len(group) > 1:
                    groups.append([f"{prefix}.{n}" if prefix else n for n in group])
                i = j
            else:
                i += 1
    return groups


def _prepared(model: nn.Module) -> tuple[nn.Module, list[str], dict]:
    """(the fused model with observers, the layers kept float, kind -> its int8 kernel's measured error)."""
    from nnml.accelerate import kernels

    engine = _engine()
    float_copy = copy.deepcopy(model).eval()
    groups = fusion_groups(float_copy)
    if groups:
        torch.ao.quantization.fuse_modules(float_copy, groups, inplace=True)
    broken = kernels.broken_static_kinds(float_copy, engine)
    kept = kernels.isolate(float_copy, broken)
    wrapped = torch.ao.quantization.QuantWrapper(float_copy)
    wrapped.qconfig = torch.ao.quantization.get_default_qconfig(engine)
    for m in float_copy.modules():
        if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) and m.qconfig is not None:
            m.qconfig = kernels.qconfig_for(type(m), engine)
    return torch.ao.quantization.prepare(wrapped, inplace=False), kept, broken


def static_quantize(model: nn.Module, batches) -> nn.Module:
    """Fuse, insert observers, run ``batches`` through to calibrate the activation ranges, convert to int8. Layers
    whose int8 kernel is wrong on this engine stay float (:mod:`nnml.accelerate.kernels`); the converted model's
    ``float_layers`` attribute names them and ``kernel_errors`` gives kind name -> measured error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared, kept, broken = _prepared(model)
        with torch.inference_mode():
            for x in batches:
                prepared(x)
        converted = torch.ao.quantization.convert(prepared, inplace=False)
    converted.float_layers = kept
    converted.kernel_errors = {k.__name__: e for k, e in broken.items()}
    return converted


def int8_static(model: nn.Module, ctx: MethodContext) -> Variant:
    convs = layers_of(model, CONV_KINDS)
    if not convs:
        raise Skip("the model has no convolution layers (static int8 here is for conv models; int8_dynamic "
                   "quantizes linear layers)")
    batches = ctx.calibration()
    try:
        q = static_quantize(model, batches)
        with torch.inference_mode(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            q(ctx.example)
    except (RuntimeError, NotImplementedError, AssertionError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise Skip(f"eager int8 quantization cannot run this model ({first}); functional ops need "
                   f"FloatFunctional or a model written as modules") from None
    if any("cat operator must share the same quantization parameters" in str(w.message) for w in caught):
        # torch.cat of int8 tensors with different scales runs but is badly wrong (a U-Net's skip joins)
        raise Skip("the model concatenates with torch.cat, which eager int8 cannot do accurately (its inputs have "
                   "different scales); write it with torch.ao.nn.quantized.FloatFunctional().cat")
    path = ctx.out_dir / "model.pt"
    torch.save(q.state_dict(), path)
    n = sum(len(x) for x in batches)
    notes = [f"calibrated on {n} training samples", f"{len(fusion_groups(model))} fused groups"]
    if q.float_layers:
        errors = ", ".join(f"{k} {e:.2f}" for k, e in sorted(q.kernel_errors.items()))
        layers = [(n, model.get_submodule(n)) for n in q.float_layers]
        notes.append(f"kept float32: {named(layers)}: the {torch.backends.quantized.engine} int8 kernel is wrong "
                     f"(relative error against float {errors})")
    return Variant("int8_static", q, float_model=model, files=[path], notes=notes,
                   extra={"calibration_samples": n, "float_layers": list(q.float_layers),
                          "kernel_errors": dict(q.kernel_errors)})


# ---------------------------------------------------------------- rebuilding (nnml eval)
def rebuild_dynamic(model: nn.Module, state: dict) -> nn.Module:
    q = dynamic_quantize(model)
    q.load_state_dict(state)
    return q


def rebuild_static(model: nn.Module, state: dict, example: torch.Tensor) -> nn.Module:
    """The converted structure from the float model (observers fed one batch, whose ranges the saved scales and
    zero points then replace)."""
    q = static_quantize(model, [example])
    q.load_state_dict(state)
    return q
