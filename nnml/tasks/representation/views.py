"""Two random views of a batch for self-supervised learning, made on the device from a task's ``views`` keys.

The kind of data picks the transforms (``image``, ``signal`` for 1-D signals, ``tabular``); each transform has one
magnitude (0 switches it off) and ``strength`` multiplies all of them, so a sweep can vary how hard the views are::

    nnml train experiment=mnist1d_simclr task.views.strength=0.5,1,2 -m
    nnml train experiment=mnist1d_simclr task.views.signal.noise=0.3

The magnitudes (see :mod:`nnml.tasks.representation.view_ops` for each one's meaning):
  image:   crop (window side in [1-a, 1]), shift (fraction of the side), rotate (degrees), cutout (square side as a
           fraction), noise (std), scale (amplitude factor in [1-a, 1+a])
  signal:  stretch (time factor in [1-a, 1+a]), shift (fraction of the length), scale, noise
  tabular: mask (probability a feature is set to its mean), noise
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nnml.errors import NnmlError, bad_choice
from nnml.tasks.representation import view_ops as ops

# Transforms of each kind, in the order they are applied (geometry first, then values).
KINDS: dict[str, dict] = {
    "image": {"crop": ops.crop, "rotate": ops.rotate, "shift": ops.shift_2d, "cutout": ops.cutout,
              "scale": ops.scale, "noise": ops.noise},
    "signal": {"stretch": ops.stretch_1d, "shift": ops.shift_1d, "scale": ops.scale, "noise": ops.noise},
    "tabular": {"mask": ops.feature_mask, "noise": ops.noise},
}
# Fractions and probabilities must stay below 1 however large the strength.
_CAPPED = {"crop", "mask", "cutout", "shift"}


def kind_of(input_shape, dataset_name: str = "") -> str:
    """``image`` for (C, H, W), ``signal`` for (C, L) and for MNIST-1D, ``tabular`` for other (D,) data."""
    if len(input_shape) == 3:
        return "image"
    if len(input_shape) == 2 or "mnist1d" in str(dataset_name).lower():
        return "signal"
    return "tabular"


class Views:
    """``views(x)`` is one random view of the batch ``x``; ``views.pair(x)`` two independent ones."""

    def __init__(self, kind: str, magnitudes: Mapping[str, float] | None = None, strength: float = 1.0,
                 key: str = "task.views"):
        if kind not in KINDS:
            raise bad_choice(f"{key}.kind", kind, [*KINDS, "auto"])
        if strength < 0:
            raise NnmlError(f"{key}.strength={strength} is not valid; choose a number >= 0 (0: no augmentation)")
        magnitudes = dict(magnitudes or {})
        for name, value in magnitudes.items():
            if name not in KINDS[kind]:
                raise NnmlError(f"{key}.{kind}.{name}: {kind} views have no transform '{name}'; choose from: "
                                f"{', '.join(KINDS[kind])}")
            if value is not None and float(value) < 0:
                raise NnmlError(f"{key}.{kind}.{name}={value} is not valid; choose a magnitude >= 0 (0: off)")
        self.kind = kind
        self.strength = float(strength)
        self.magnitudes = {}
        for name in KINDS[kind]:  # the kind's order, whatever order the config gave
            m = float(magnitudes.get(name) or 0.0) * self.strength
            if name in _CAPPED:
                m = min(m, 0.95)
            if m > 0:
                self.magnitudes[name] = m

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for name, m in self.magnitudes.items():
            x = KINDS[self.kind][name](x, m)
        return x

    def pair(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self(x), self(x)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v:g}" for k, v in self.magnitudes.items()) or "identity"
        return f"Views({self.kind}: {parts})"


def build_views(cfg: Mapping | None, input_shape, dataset_name: str = "", key: str = "task.views") -> Views:
    """Views from a task's ``views`` node: ``kind`` (auto: from the data), ``strength`` and one magnitude table
    per kind (only the chosen kind's table is used)."""
    cfg = dict(cfg or {})
    kind = str(cfg.get("kind", "auto"))
    if kind == "auto":
        kind = kind_of(input_shape, dataset_name)
    unknown = sorted(set(cfg) - {"kind", "strength", *KINDS})
    if unknown:
        raise NnmlError(f"{key}.{unknown[0]} is not a key of {key}; its keys are: kind, strength, "
                        f"{', '.join(KINDS)}")
    if kind == "image" and len(input_shape) != 3:
        raise NnmlError(f"{key}.kind=image needs (channels, height, width) data; this dataset gives "
                        f"input_shape={tuple(input_shape)}: use {key}.kind=auto")
    table = cfg.get(kind) or {}
    return Views(kind, dict(table), float(cfg.get("strength", 1.0)), key=key)
