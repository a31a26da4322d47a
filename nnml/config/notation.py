"""What the user typed, as they typed it: the keys a running sweep varies and each value's own notation
(``optimizer.lr=1e10`` stays ``1e10``, not ``10000000000.0``). Read by the sweep's job names, the HParams order and
the NaN hint; set by the sweep callback in the environment that the launcher's jobs inherit."""

from __future__ import annotations

import os
import re

# What the running sweep varies, set by the sweep callback (nnml.sweep.summary) before the launcher starts its
# jobs, which inherit it: {"key": {"value as Hydra formats it": "value as typed"}}.
SWEEP_ENV = "NNML_SWEEP_VARIES"


def sweep_varies() -> dict[str, dict[str, str]]:
    import json

    try:
        value = json.loads(os.environ.get(SWEEP_ENV) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def swept_keys() -> list[str]:
    """The keys the running sweep or study varies, in the order typed (empty outside a sweep)."""
    return list(sweep_varies())


def typed_value(key: str) -> str | None:
    """The value of ``key`` as the user typed it for this job (a single run's override, or a sweep job's value
    mapped back to its typed text), or None."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    except Exception:
        return None
    for text in overrides:
        k, _, v = str(text).partition("=")
        if k.lstrip("+~") == key:
            return sweep_varies().get(key, {}).get(v, v)
    return None


def number_like(value: float, like: str | None) -> str:
    """``value`` in the notation of ``like``: scientific as typed (``1e10`` -> ``1e9``), else plain (``0.001``)."""
    if like and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", like.strip()):
        mantissa, exp = f"{value:.3e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}{'E' if 'E' in like else 'e'}{int(exp)}"
    return f"{value:g}"
