"""nnml's OmegaConf resolvers, registered when this module is imported: every path that composes configs like
``nnml train`` (the Hydra entry points, the precheck, tune, tests, scripts) imports it.

- ``${nnml_fresh_dir:PATH}``: a run folder that never existed before, claimed atomically (``PATH``, ``PATH-1``, ...).
- ``${nnml_safe:TEXT}``: a sweep job's folder name from its overrides: the keys the sweep varies, values as typed,
  without ``/`` or characters shells mind.
"""

from __future__ import annotations

import os
import re

from omegaconf import OmegaConf

from nnml.config.notation import SWEEP_ENV, sweep_varies, swept_keys, typed_value  # noqa: F401  (re-exported)


def fresh_dir(path: str) -> str:
    """``path``, or ``path-1``, ``path-2``, ... whichever does not exist yet; created at once so that two runs
    started in the same second never share a folder and nothing written before is overwritten."""
    candidate, i = path, 0
    while True:
        try:
            missing = _missing_parents(candidate)
            os.makedirs(candidate, exist_ok=False)
            CREATED[os.path.abspath(candidate)] = missing
            return candidate
        except FileExistsError:
            i += 1
            candidate = f"{path}-{i}"


# Run folders this process created, with the parent folders it created for them (deepest first): a run refused
# for bad input before it trained removes what it made, so outputs/ stays as it was (nnml.cli.entry._discard_if_empty).
CREATED: dict[str, list[str]] = {}


def _missing_parents(path: str) -> list[str]:
    out, p = [], os.path.abspath(os.path.dirname(os.path.abspath(path)))
    while not os.path.exists(p) and p != os.path.dirname(p):
        out.append(p)
        p = os.path.dirname(p)
    return out


def _items(override_dirname: str) -> list[tuple[str, str]]:
    """``k=v,k=v`` back into pairs; a comma inside a value (``[64,64]``) is not followed by ``key=``."""
    parts = re.split(r",(?=[A-Za-z_+~][\w.+~/@-]*=)", override_dirname)
    return [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in parts if p]


def job_name(override_dirname: str) -> str:
    """A sweep job's folder name: only the overrides the sweep varies (a constant ``experiment=...`` would prefix
    every run name in TensorBoard), each value as the user typed it (``optimizer.lr=1e10``, not 10000000000.0)."""
    varies = sweep_varies()
    items = _items(override_dirname)
    if varies:
        kept = [(k, varies[k.lstrip("+~")].get(v, v)) for k, v in items if k.lstrip("+~") in varies]
        items = kept or items
    return ",".join(f"{k}={v}" for k, v in items)


def safe_name(text: str) -> str:
    """A folder name from a sweep job's overrides: only what the sweep varies, as typed; no path separators, no
    characters shells or TensorBoard mind."""
    text = job_name(text)
    text = text.replace("/", "_").replace(os.sep, "_")
    return re.sub(r"[^A-Za-z0-9_.,=+\-\[\]]", "_", text)[:200] or "job"


OmegaConf.register_new_resolver("nnml_fresh_dir", fresh_dir, use_cache=True, replace=True)
OmegaConf.register_new_resolver("nnml_safe", safe_name, replace=True)
