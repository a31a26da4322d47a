"""Each variant's artifact folder ``RUN_DIR/accelerated/<variant>/``: ``variant.json`` (what made it) beside its
weights (``model.pt``, a state dict that loads with ``weights_only=True``) or ``model.onnx``; and
:func:`load_variant`, which rebuilds a runnable module from such a folder and a fresh float model of the run
(``nnml eval RUN_DIR --checkpoint accelerated/<variant>``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from nnml.errors import NnmlError

META = "variant.json"


def is_variant_dir(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / META).is_file()


def write_meta(folder: Path, method: str, **info) -> None:
    (Path(folder) / META).write_text(json.dumps({"method": method, **info}, indent=2, default=str) + "\n")


def load_variant(folder: Path, model: nn.Module, example: torch.Tensor | None = None) -> nn.Module:
    """The variant saved in ``folder``, rebuilt around ``model`` (the run's float model, fresh from its config;
    its weights are replaced). Quantized and ONNX variants run on the CPU."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError) as e:
        raise NnmlError(f"{folder / META} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                        f"run nnml accelerate again") from None
    method = meta.get("method") if isinstance(meta, dict) else None  # a folder's files are data: any shape
    model = model.cpu().eval()
    if method == "onnx":
        from nnml.accelerate.onnx_export import OrtModule

        try:
            return OrtModule(folder / "model.onnx", threads=torch.get_num_threads())
        except Exception as e:  # ONNX Runtime's own errors (a missing, torn or foreign file) are many lines
            raise NnmlError(f"{folder / 'model.onnx'} cannot be loaded by ONNX Runtime ({type(e).__name__}: "
                            f"{str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}); run nnml "
                            f"accelerate again") from None
    if method == "compile":
        raise NnmlError(f"{folder} (compile) has no artifact of its own: torch.compile keeps the original weights; "
                        f"evaluate --checkpoint best")
    weights = folder / "model.pt"
    if not weights.is_file():
        raise NnmlError(f"{folder} has no model.pt; run nnml accelerate again")
    import warnings

    from nnml.engine.checkpoint import load_weights_only

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors load through torch's deprecated TypedStorage path
        state = load_weights_only(weights)  # a pickle that would run code: one line, not torch's traceback
    if not isinstance(state, dict):
        raise NnmlError(f"{weights} holds a {type(state).__name__}, not a model's state dict; run nnml accelerate "
                        f"again")
    try:
        return _rebuild(folder, method, model, state, example)
    except NnmlError:
        raise
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as e:
        # another model's state dict, or a hand-made one: torch says so in many lines
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise NnmlError(f"{weights} does not fit this run's model ({type(e).__name__}: {first}); run nnml "
                        f"accelerate again") from None


def _rebuild(folder: Path, method, model: nn.Module, state: dict, example) -> nn.Module:
    if method in ("original", "prune_unstructured"):
        model.load_state_dict(state)
        return model
    if method == "prune_structured":
        from nnml.accelerate.prune import resize_to

        return resize_to(model, state).eval()
    if method == "int8_dynamic":
        from nnml.accelerate.quantize import rebuild_dynamic

        return rebuild_dynamic(model, state)
    if method == "int8_static":
        from nnml.accelerate.quantize import rebuild_static

        if example is None:
            raise NnmlError(f"{folder}: rebuilding a static int8 model needs an example input")
        return rebuild_static(model, state, example)
    if method == "bf16":
        from nnml.accelerate.compiled import Bf16Module

        module = Bf16Module(model)
        module.model.load_state_dict(state)
        return module
    raise NnmlError(f"{folder}/{META} names method={method}, which this nnml cannot rebuild")


def variant_folder(run_dir: Path, checkpoint: str) -> Path | None:
    """The variant folder ``checkpoint`` names (``accelerated/<variant>``, relative to the run folder or the
    current one), or None when it names an ordinary checkpoint."""
    if checkpoint in ("best", "last"):
        return None
    for candidate in (Path(run_dir) / checkpoint, Path(checkpoint)):
        if is_variant_dir(candidate):
            return candidate
    if Path(checkpoint).parts[:1] == ("accelerated",) and not Path(checkpoint).is_file():
        choices = sorted(p.name for p in (Path(run_dir) / "accelerated").glob("*") if is_variant_dir(p))
        raise NnmlError(f"--checkpoint {checkpoint} is not a variant of {run_dir}; choose one of: "
                        f"{', '.join(f'accelerated/{c}' for c in choices) or '(none: run nnml accelerate first)'}")
    return None
