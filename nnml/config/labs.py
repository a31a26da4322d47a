"""The labs' config files (``configs/lab/NAME.yaml``): their keys, one-line descriptions and examples, and the
check of ``nnml lab NAME key=value`` overrides against them. The lab code (:mod:`nnml.lab`) never reads configs."""

from __future__ import annotations

import pathlib

from nnml.errors import NnmlError, bad_choice, did_you_mean


def lab_config_file(name: str) -> pathlib.Path:
    """``configs/lab/NAME.yaml``: the lab's primary Hydra config (its keys, defaults and comments)."""
    from nnml.config import config_dir
    from nnml.lab import LABS

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
