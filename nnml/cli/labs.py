"""The lecture-1 labs as commands: which labs there are (``nnml lab NAME``), how each is loaded (its module is
imported only when it runs, so listing the labs costs nothing), and their config files
(``configs/lab/NAME.yaml``: keys, one-line descriptions, examples, and the check of ``key=value`` overrides against
them). The labs themselves (:mod:`nnml.lab`, and the regularization lab in :mod:`nnml.sweep.regularization`) never
read configs: each ``run(cfg, out_dir) -> (numbers, table)`` takes the keys of its file and writes its figures
(PNG and TensorBoard) and tables (CSV) into ``out_dir``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

from nnml.errors import NnmlError, bad_choice, did_you_mean


def _activations():
    from nnml.lab.activations import run

    return run


def _gradcheck():
    from nnml.lab.gradcheck import run

    return run


def _trajectories():
    from nnml.lab.trajectories import run

    return run


def _uat():
    from nnml.lab.uat import run

    return run


def _collapse():
    from nnml.lab.collapse import run

    return run


def _regularization():
    from nnml.sweep.regularization import run

    return run


# name -> a function that imports the lab and returns its run(cfg, out_dir)
LABS = {"activations": _activations, "gradcheck": _gradcheck, "trajectories": _trajectories, "uat": _uat,
        "collapse": _collapse, "regularization": _regularization}


def load_lab(name: str):
    """The ``run`` function of lab ``name`` (imports its module)."""
    if name not in LABS:
        raise bad_choice("lab", name, LABS)
    return LABS[name]()


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
