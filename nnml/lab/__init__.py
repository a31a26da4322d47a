"""The lecture-1 lab: backprop and optimizers from scratch, and the labs that show each topic.

``LABS`` maps a lab name to ``"module:function"``; each function is
``run(cfg, out_dir: pathlib.Path) -> (numbers: dict, table: rich.table.Table)``, takes the keys of
``configs/lab/<name>.yaml`` (missing keys take those defaults) and writes its figures (PNG and
TensorBoard) and tables (CSV) into ``out_dir``. ``nnml lab NAME [OVERRIDES...]`` runs them.

Nothing heavy is imported here, so that listing the labs costs nothing; a lab's module (and torch)
is imported only when that lab runs. The labs' config files are read by :mod:`nnml.config.labs`: the lab itself
depends on torch alone.
"""

from __future__ import annotations

import importlib
import pathlib
from collections.abc import Mapping
from typing import Any

from nnml.errors import bad_choice

LABS: dict[str, str] = {
    "activations": "nnml.lab.activations:run",
    "gradcheck": "nnml.lab.gradcheck:run",
    "trajectories": "nnml.lab.trajectories:run",
    "uat": "nnml.lab.uat:run",
    "collapse": "nnml.lab.collapse:run",
    "regularization": "nnml.sweep.regularization:run",
}


def load_lab(name: str):
    """The ``run`` function of lab ``name`` (imports its module)."""
    if name not in LABS:
        raise bad_choice("lab", name, LABS)
    module, function = LABS[name].split(":")
    return getattr(importlib.import_module(module), function)


def run_lab(name: str, cfg: Mapping[str, Any] | None, out_dir: str | pathlib.Path):
    """Run lab ``name`` with config ``cfg`` (a dict or DictConfig; None for the defaults) into ``out_dir``.

    Returns ``(numbers, table)``: a JSON-serialisable dict and a rich Table to print.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return load_lab(name)(cfg if cfg is not None else {}, out_dir)
