"""Search spaces for ``nnml tune``: small YAML files in the ``search`` config group (configs/search/*.yaml).

Each entry maps a config key (or a group name) to how to sample it::

    optimizer.lr:           {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
    model.dropout:          {type: float, low: 0.0, high: 0.5, step: 0.1}
    dataset.batch_size:     {type: int, low: 32, high: 256, log: true}
    model.hidden:           {type: categorical, choices: [[64], [256], [256, 256]]}
    optimizer:              {type: categorical, choices: [adam, sgd]}        # a group choice

From the shell: ``search=lr_wd`` picks a file (or a path to one), ``search.optimizer.lr.high=0.5`` changes one field,
``search.model.dropout={type:float,low:0,high:0.5}`` adds a key, ``~search.optimizer.weight_decay`` drops one.
"""

from __future__ import annotations

import math
from pathlib import Path

from nnml.errors import NnmlError, bad_choice, did_you_mean

TYPES = ("categorical", "float", "int")
FIELDS = {"type", "low", "high", "log", "step", "choices"}
DEFAULT_SEARCH = "lr_wd"


def search_dir() -> Path:
    from nnml.config import config_dir

    return Path(config_dir()) / "search"


def load(name: str) -> dict:
    """The search space named ``name`` (an option of configs/search/) or stored at the path ``name``."""
    from omegaconf import OmegaConf

    path = Path(name).expanduser()
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = search_dir() / f"{name}.yaml"
        if not path.is_file():
            options = sorted(p.stem for p in search_dir().glob("*.yaml"))
            raise bad_choice("search", name, options)
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
    if not isinstance(raw, dict):
        raise NnmlError(f"search space {path} must map config keys to specs, e.g. "
                        f"optimizer.lr: {{type: float, low: 1e-4, high: 1e-1, log: true}}")
    return {str(k): dict(v) if isinstance(v, dict) else v for k, v in raw.items()}


def split_overrides(args: list[str]) -> tuple[str, list[str], list[str]]:
    """(search name, search-space overrides, training overrides) from ``nnml tune``'s extra arguments."""
    name, space_ovs, train_ovs = DEFAULT_SEARCH, [], []
    for a in args:
        bare = a.lstrip("+~")
        if bare.startswith("search="):
            name = bare.split("=", 1)[1]
        elif bare.startswith("search."):
            space_ovs.append(a)
        else:
            train_ovs.append(a)
    return name, space_ovs, train_ovs


def apply_overrides(space: dict, overrides: list[str]) -> dict:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    space = {k: dict(v) if isinstance(v, dict) else v for k, v in space.items()}
    for text in overrides:
        try:
            ov = OverridesParser.create().parse_override(text)
        except HydraException as e:
            raise NnmlError(f"{text}: {str(e).splitlines()[0]}") from None
        path = ov.key_or_group[len("search."):]
        if ov.is_delete():
            if path not in space:
                raise NnmlError(f"~search.{path}: no such key in the search space{did_you_mean(path, space)}; "
                                f"keys: {', '.join(space)}")
            del space[path]
            continue
        value = ov.value()
        key, _, last = path.rpartition(".")
        if last in FIELDS and key:
            space.setdefault(key, {})
            if not isinstance(space[key], dict):
                space[key] = {}
            space[key][last] = value
        else:
            space[path] = dict(value) if isinstance(value, dict) else value
    return space


def validate(space: dict) -> dict:
    """Check every spec; return the space with numbers as numbers. Messages name the key and what is valid."""
    if not space:
        raise NnmlError("the search space is empty; give search=NAME or search.KEY={type:float,low:..,high:..}")
    out = {}
    for key, spec in space.items():
        if not isinstance(spec, dict):
            raise NnmlError(f"search.{key}={spec!r}: give a spec such as {{type: float, low: 1e-4, high: 1e-1, "
                            f"log: true}} or {{type: categorical, choices: [a, b]}}")
        unknown = set(spec) - FIELDS
        if unknown:
            bad = sorted(unknown)[0]
            raise NnmlError(f"search.{key}.{bad} is not a spec field{did_you_mean(bad, FIELDS)}; "
                            f"fields: {', '.join(sorted(FIELDS))}")
        kind = spec.get("type", "categorical" if "choices" in spec else None)
        if kind not in TYPES:
            raise bad_choice(f"search.{key}.type", kind, TYPES)
        spec = dict(spec, type=kind)
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise NnmlError(f"search.{key}.choices must be a non-empty list, e.g. [adam, sgd]")
        else:
            for f in ("low", "high"):
                if not isinstance(spec.get(f), (int, float)) or isinstance(spec.get(f), bool):
                    raise NnmlError(f"search.{key}.{f} must be a number (got {spec.get(f)!r})")
            caster = float if kind == "float" else int
            if kind == "int" and (spec["low"] != int(spec["low"]) or spec["high"] != int(spec["high"])):
                raise NnmlError(f"search.{key}: type int needs whole low and high (got {spec['low']}, {spec['high']})")
            spec["low"], spec["high"] = caster(spec["low"]), caster(spec["high"])
            if not spec["low"] < spec["high"]:
                raise NnmlError(f"search.{key}: low ({spec['low']}) must be below high ({spec['high']})")
            if spec.get("log") and spec["low"] <= 0:
                raise NnmlError(f"search.{key}: log: true needs low > 0 (got {spec['low']})")
            if spec.get("log") and spec.get("step") is not None:
                raise NnmlError(f"search.{key}: give either log: true or a step, not both")
            if spec.get("step") is not None and not (isinstance(spec["step"], (int, float)) and spec["step"] > 0):
                raise NnmlError(f"search.{key}.step must be a positive number (got {spec['step']!r})")
        out[key] = spec
    return out


def _choice_value(c):
    # Optuna stores categorical choices as None/bool/int/float/str; lists ([64, 64]) travel as their text.
    return c if c is None or isinstance(c, (bool, int, float, str)) else _text(c)


def suggest(trial, key: str, spec: dict):
    kind = spec["type"]
    if kind == "categorical":
        return trial.suggest_categorical(key, [_choice_value(c) for c in spec["choices"]])
    if kind == "float":
        return trial.suggest_float(key, spec["low"], spec["high"], log=bool(spec.get("log")), step=spec.get("step"))
    return trial.suggest_int(key, spec["low"], spec["high"], log=bool(spec.get("log")), step=int(spec.get("step") or 1))


def grid(space: dict) -> dict:
    """Every value of every key, for ``--sampler grid``: categorical choices, ints, floats with a step."""
    out = {}
    for key, spec in space.items():
        kind = spec["type"]
        if kind == "categorical":
            out[key] = [_choice_value(c) for c in spec["choices"]]
        elif kind == "int" and not spec.get("log"):
            out[key] = list(range(spec["low"], spec["high"] + 1, int(spec.get("step") or 1)))
        elif spec.get("step"):
            n = int(math.floor((spec["high"] - spec["low"]) / spec["step"] + 1e-9)) + 1
            out[key] = [round(spec["low"] + i * spec["step"], 12) for i in range(n)]
        else:
            raise NnmlError(f"search.{key}: --sampler grid needs a finite set of values: give a step, or use "
                            f"type: categorical with choices")
    return out


def grid_size(space: dict) -> int:
    return math.prod(len(v) for v in grid(space).values())


def _text(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_text(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def to_override(key: str, value) -> str:
    """``key=value`` as Hydra parses it back to the same value."""
    return f"{key}={_text(value)}"
