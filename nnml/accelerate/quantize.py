"""Int8 post-training quantization: dynamic (linear, recurrent and conv layers) and static (convolutional models).

Dynamic: ``torch.ao.quantization.quantize_dynamic`` stores Linear/LSTM/GRU weights as int8 and quantizes
activations on the fly per batch; no calibration. Conv layers are mapped to the dynamic int8 convs too
(``torch.ao.nn.quantized.dynamic.Conv2d``; not in the default mapping), so a CNN's file shrinks ~3-4x rather
than only its linear head's share. It is deprecated in favour of torchao but still works and is what runs int8
kernels on CPU without a compiler.

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
    import torch.ao.nn.quantized.dynamic as nnqd
    from torch.ao.quantization import default_dynamic_qconfig, get_default_dynamic_quant_module_mappings

    _engine()
    mapping = dict(get_default_dynamic_quant_module_mappings())
    mapping.update({nn.Conv1d: nnqd.Conv1d, nn.Conv2d: nnqd.Conv2d, nn.Conv3d: nnqd.Conv3d})
    kinds = {type(m): default_dynamic_qconfig for _, m in layers_of(model, DYNAMIC_KINDS + CONV_KINDS)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), kinds, dtype=torch.qint8,
                                                      mapping=mapping)


def int8_dynamic(model: nn.Module, ctx: MethodContext) -> Variant:
    found = layers_of(model, DYNAMIC_KINDS + CONV_KINDS)
    if not found:
        raise Skip("the model has no Linear, recurrent (LSTM/GRU) or conv layers to quantize")
    q = dynamic_quantize(model)
    path = ctx.out_dir / "model.pt"
    torch.save(q.state_dict(), path)
    kinds = sorted({type(m).__name__ for _, m in found})
    notes = [f"int8 weights: {len(found)} {'/'.join(kinds)} layers"]
    return Variant("int8_dynamic", q, float_model=model, files=[path], notes=notes)


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


def _prepared(model: nn.Module) -> nn.Module:
    float_copy = copy.deepcopy(model).eval()
    groups = fusion_groups(float_copy)
    if groups:
        torch.ao.quantization.fuse_modules(float_copy, groups, inplace=True)
    wrapped = torch.ao.quantization.QuantWrapper(float_copy)
    qconfig = torch.ao.quantization.get_default_qconfig(_engine())
    wrapped.qconfig = qconfig
    # per-channel weight observers are not supported for transposed convs (a U-Net's upsampling): per tensor
    per_tensor = torch.ao.quantization.QConfig(activation=qconfig.activation,
                                               weight=torch.ao.quantization.default_weight_observer)
    for m in float_copy.modules():
        if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            m.qconfig = per_tensor
    return torch.ao.quantization.prepare(wrapped, inplace=False)


def static_quantize(model: nn.Module, batches) -> nn.Module:
    """Fuse, insert observers, run ``batches`` through to calibrate the activation ranges, convert to int8."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = _prepared(model)
        with torch.inference_mode():
            for x in batches:
                prepared(x)
        return torch.ao.quantization.convert(prepared, inplace=False)


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
    return Variant("int8_static", q, float_model=model, files=[path],
                   notes=[f"calibrated on {n} training samples", f"{len(fusion_groups(model))} fused groups"],
                   extra={"calibration_samples": n})


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
