"""The lecture-1 lab: backprop and optimizers from scratch, and the labs that show each topic.

``LABS`` maps a lab name to ``"module:function"``; each function is
``run(cfg, out_dir: pathlib.Path) -> (numbers: dict, table: rich.table.Table)``, takes the keys of
``configs/lab/<name>.yaml`` (missing keys take those defaults) and writes its figures (PNG and
TensorBoard) and tables (CSV) into ``out_dir``. ``nnml lab NAME [OVERRIDES...]`` runs them.

Nothing heavy is imported here, so that listing the labs costs nothing; a lab's module (and torch)
is imported only when that lab runs.
"""

from __future__ import annotations

import importlib
import pathlib
from collections.abc import Mapping
from typing import Any

from nnml.errors import NnmlError, bad_choice, did_you_mean

LABS: dict[str, str] = {
    "activations": "nnml.lab.activations:run",
    "gradcheck": "nnml.lab.gradcheck:run",
    "trajectories": "nnml.lab.trajectories:run",
    "uat": "nnml.lab.uat:run",
    "collapse": "nnml.lab.collapse:run",
    "regularization": "nnml.lab.regularization:run",
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


def lab_config_file(name: str) -> pathlib.Path:
    """``configs/lab/NAME.yaml``: the lab's primary Hydra config (its keys, defaults and comments)."""
    from nnml.config import config_dir

    if name not in LABS:
        raise bad_choice("lab", name, LABS)
    return pathlib.Path(config_dir()) / "lab" / f"{name}.yaml"


def lab_keys(name: str) -> list[str]:
    """The top-level keys of the lab's config file, in file order."""
    import yaml

    return list((yaml.safe_load(lab_config_file(name).read_text()) or {}).keys())


def lab_summary(name: str) -> tuple[str, str]:
    """(one-line description, example command): the first two comment lines after ``# @package``."""
    comments = [line.lstrip("#").strip() for line in lab_config_file(name).read_text().splitlines()
                if line.startswith("#") and "@package" not in line]
    return (comments[0] if comments else ""), (comments[1] if len(comments) > 1 else f"nnml lab {name}")


def check_override_keys(name: str, overrides: list[str]) -> None:
    """Refuse an override whose top-level key is not one of the lab's keys (one line, before Hydra composes).

    ``hydra.*`` and ``hydra/...`` overrides pass; a Hydra flag's value (``--cfg job``) has no ``=`` and is skipped.
    """
    import re

    keys = lab_keys(name)
    for override in overrides:
        if "=" not in override and not override.startswith("~"):
            continue
        key = override.split("=", 1)[0].lstrip("+~")
        top = re.split(r"[./@\[]", key, maxsplit=1)[0]
        if top == "hydra" or top in keys:
            continue
        raise NnmlError(f"'{top}' is not a key of lab {name}{did_you_mean(top, keys)}; valid keys: {', '.join(keys)}")
