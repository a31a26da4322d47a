"""What every acceleration method returns: a :class:`Variant` (a module to run, the float model its MACs are
counted on, its artifact on disk, notes), or raises :class:`Skip` with the one-line reason it does not apply.

``MethodContext`` is what a method may use: an example batch, calibration and fine-tuning data, the artifact
folder and the options (``ratio``, ``finetune_epochs``, ...). Methods never read configs or run folders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn


class Skip(Exception):
    """A method that does not apply to this model (or failed on it): the message says why, in one line."""


@dataclass
class MethodContext:
    """Inputs of a method. ``example`` is a small real input batch (on the CPU); ``calibration`` yields input
    batches of the training split; ``finetune(model, epochs)`` trains a model in place through the run's own task
    (its training step and training batches; None: unavailable, ``no_finetune`` says why); ``out_dir`` is the variant's artifact folder."""

    example: torch.Tensor
    calibration: Callable[[], list[torch.Tensor]]
    out_dir: Path
    finetune: Callable[[nn.Module, int], dict] | None = None
    no_finetune: str = ""  # why finetune is None
    num_outputs: int | None = None
    options: dict = field(default_factory=dict)

    def option(self, key: str, default):
        return self.options.get(key, default)


@dataclass
class Variant:
    """One accelerated version of the model.

    ``module`` runs inputs as the original does (float in, float out; casts or an ONNX Runtime session inside);
    ``float_model`` is an nn.Module with the variant's structure in float32, on which MACs are counted (the same
    multiply-accumulates happen in int8 for a quantized model); ``files`` are the artifact's files;
    ``loadable`` says whether ``nnml eval --checkpoint accelerated/<name>`` can rebuild it."""

    name: str
    module: nn.Module
    float_model: nn.Module | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    loadable: bool = True


def layers_of(model: nn.Module, kinds) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]


def head_layer(model: nn.Module, num_outputs: int | None = None) -> nn.Module | None:
    """The layer that produces the outputs (the last Linear/Conv in module order): pruning must keep its outputs."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
    layers = [m for _, m in layers_of(model, kinds)]
    return layers[-1] if layers else None
