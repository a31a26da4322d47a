"""ONNX export with the dynamo exporter (``dynamo=True``, passed explicitly; it needs onnxscript), run in ONNX
Runtime, its outputs checked against PyTorch's on real test inputs.

The batch dimension is exported as dynamic, so one file serves batch 1 and batch 64. ONNX Runtime gets the same
thread count as torch (``intra_op_num_threads``), so latencies compare like with like.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from nnml.accelerate.variant import MethodContext, Skip, Variant

#: outputs further than this from PyTorch's are flagged in the notes
TOLERANCE = 1e-4


class OrtModule(nn.Module):
    """An ONNX Runtime session behind an nn.Module interface (float tensor in, float tensor out, on the CPU), so
    the run's own evaluation can score it."""

    def __init__(self, path: Path, threads: int = 1):
        super().__init__()
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        self.path = str(path)
        self.session = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: x.detach().float().cpu().contiguous().numpy()})[0]
        return torch.from_numpy(out)


def export(model: nn.Module, example: torch.Tensor, path: Path) -> list[Path]:
    """Export ``model`` to ``path`` (batch dimension dynamic); returns the files written."""
    model = copy.deepcopy(model).cpu().eval()
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    big = sum(p.numel() * p.element_size() for p in model.parameters()) > (1 << 30)
    # The exporter prints its progress and warns that torchvision's ops are not registered; the report has its
    # own lines.
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pytree deprecations inside the exporter, not ours to act on
            torch.onnx.export(model, (example,), str(path), dynamo=True, dynamic_shapes=({0: batch},),
                              external_data=big, verbose=False)
    finally:
        logger.setLevel(level)
    files = [path]
    data = Path(str(path) + ".data")
    if data.is_file():
        files.append(data)
    return files


def onnx(model: nn.Module, ctx: MethodContext) -> Variant:
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise Skip(f"needs onnxruntime and onnxscript ({e.name} is not installed)") from None
    path = ctx.out_dir / "model.onnx"
    example = ctx.example if len(ctx.example) >= 2 else ctx.example.repeat(2, *([1] * (ctx.example.dim() - 1)))
    try:
        files = export(model, example, path)
    except Exception as e:  # unsupported ops, data-dependent control flow: say which and go on
        raise Skip(f"the exporter cannot export this model ({_first_line(e)})") from None
    ort_module = OrtModule(path, threads=torch.get_num_threads())
    with torch.inference_mode():
        ref = model.eval()(ctx.example).float()
        try:
            got = ort_module(ctx.example)
        except Exception as e:
            raise Skip(f"ONNX Runtime cannot run the exported model ({_first_line(e)})") from None
    diff = float((ref - got).abs().max())
    notes = [f"max |ORT - PyTorch| = {diff:.1e} on {len(ctx.example)} test inputs"
             + ("" if diff <= TOLERANCE else f" (above {TOLERANCE:g}!)")]
    return Variant("onnx", ort_module, float_model=model, files=files, notes=notes,
                   extra={"max_abs_diff": diff, "within_tolerance": diff <= TOLERANCE})


def _first_line(e: Exception) -> str:
    import re

    text = f"{e} {e.__cause__ or ''}"
    op = re.search(r"OpOverload\(op='([^']+)'", text)
    if op:
        return f"ONNX has no function for {op.group(1)}"
    def lines_of(err) -> list[str]:  # without the terminal colour codes the exporter puts in its messages
        return [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines() if ln.strip()]

    lines = lines_of(e)
    if lines and lines[0].startswith("Failed to export the model with torch.export") and e.__cause__ is not None:
        e, lines = e.__cause__, lines_of(e.__cause__) or lines  # step 1 failed: torch.export says why
    # the dynamo exporter's errors start with a generic sentence; the op is named further down
    key = next((ln for ln in lines if "aten." in ln or "not supported" in ln.lower() or "unsupported" in ln.lower()),
               lines[0] if lines else type(e).__name__)
    return f"{type(e).__name__}: {key[:200]}"
