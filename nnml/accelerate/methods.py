"""The catalogue of acceleration methods, in the order they run, with a one-line description each."""

from __future__ import annotations

from nnml.accelerate import compiled, onnx_export, prune, quantize

#: name -> (function(model, ctx) -> Variant, description)
METHODS = {
    "int8_dynamic": (quantize.int8_dynamic, "int8 weights of Linear/LSTM/GRU layers, activations quantized per batch"),
    "int8_static": (quantize.int8_static, "int8 convs and linears, activation ranges calibrated on training batches"),
    "prune_structured": (prune.prune_structured, "remove half the channels (Torch-Pruning), then fine-tune"),
    "prune_unstructured": (prune.prune_unstructured, "zero half the weights (torch.nn.utils.prune), then fine-tune"),
    "bf16": (compiled.bf16, "weights and activations in bfloat16"),
    "onnx": (onnx_export.onnx, "ONNX (dynamo exporter) run in ONNX Runtime"),
    "compile": (compiled.compile_model, "torch.compile (Inductor); first call compiles"),
}
#: what runs without --methods: everything but compile, whose compilation takes ~20 s per input shape
DEFAULT = [m for m in METHODS if m != "compile"]


def parse_methods(text: str | None) -> list[str]:
    from nnml.errors import bad_choice

    if not text or text == "default":
        return list(DEFAULT)
    if text == "all":
        return list(METHODS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        if n not in METHODS:
            raise bad_choice("--methods", n, [*METHODS, "all", "default"])
    return list(dict.fromkeys(names))
