"""``torch.compile`` and bf16: the same weights, run differently.

``compile``: TorchDynamo + Inductor generate fused kernels for the model. Its first call compiles (about 20 s on
two cores; again for each new input shape), so timing starts after warm-up. There is no artifact of its own:
the weights are the original's, compilation happens wherever the model is loaded.

``bf16``: weights and activations in bfloat16 (half the bytes). On a CPU without native bf16 arithmetic
(AVX512-BF16 or AMX; this machine's AVX2 has neither) torch emulates it, and it is usually slower than fp32: the
table says which case applies. On CUDA it needs ``torch.cuda.is_bf16_supported()``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nnml.accelerate.variant import MethodContext, Skip, Variant


def compile_model(model: nn.Module, ctx: MethodContext) -> Variant:
    try:
        compiled = torch.compile(copy.deepcopy(model).eval())
        with torch.inference_mode():
            compiled(ctx.example)
    except Exception as e:  # no C compiler, an op Inductor lacks
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise Skip(f"torch.compile failed on this model ({type(e).__name__}: {first})") from None
    return Variant("compile", compiled, float_model=model, files=[], loadable=False,
                   notes=["Inductor; recompiles per new input shape", "no artifact: the original's weights"])


class Bf16Module(nn.Module):
    """Runs a bfloat16 copy of a model on float inputs and returns float outputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.to(torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(torch.bfloat16) if x.is_floating_point() else x).float()


def native_bf16(device: torch.device | str = "cpu") -> bool:
    if torch.device(device).type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else False


def bf16(model: nn.Module, ctx: MethodContext) -> Variant:
    module = Bf16Module(copy.deepcopy(model).cpu().eval())
    try:
        with torch.inference_mode():
            module(ctx.example)
    except RuntimeError as e:
        raise Skip(f"an op of this model has no bf16 kernel on this device ({str(e).splitlines()[0][:160]})") \
            from None
    path = ctx.out_dir / "model.pt"
    torch.save(module.model.state_dict(), path)
    native = native_bf16("cpu")
    cap = torch.backends.cpu.get_cpu_capability()
    notes = ["native bf16 on this CPU" if native else f"emulated: this CPU ({cap}) has no native bf16"]
    return Variant("bf16", module, float_model=model, files=[path], notes=notes, extra={"native": native})
