"""nnml's OmegaConf resolvers, registered when this module is imported (every path that composes configs like
``nnml train`` imports it), and the folder names they make:

- ``${nnml_fresh_dir:PATH}``: a folder that never existed before, claimed atomically (``PATH``, ``PATH-1``, ...);
  the labs' run folders use it, and ``nnml train`` claims its run and sweep folders with :func:`fresh_dir` itself.
- ``${nnml_job:OVERRIDE_DIRNAME,SWEEP_DIR}``: a sweep job's folder name: the keys the sweep varies, values as the
  user typed them (read from the sweep's ``sweep.json``, which the command wrote before any job started), without
  ``/`` or characters shells mind.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from omegaconf import OmegaConf

MANIFEST = "sweep.json"


def fresh_dir(path: str) -> str:
    """``path``, or ``path-1``, ``path-2``, ... whichever does not exist yet; created at once so that two runs
    started in the same second never share a folder and nothing written before is overwritten."""
    candidate, i = path, 0
    while True:
        try:
            os.makedirs(candidate, exist_ok=False)
            return candidate
        except FileExistsError:
            i += 1
            candidate = f"{path}-{i}"


def missing_parents(path) -> list[Path]:
    """The parent folders of ``path`` that do not exist yet, deepest first (what creating it would create)."""
    out, p = [], Path(path).absolute().parent
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def read_manifest(sweep_dir) -> dict:
    """The sweep's ``sweep.json`` (what the command line varies, as typed), or {} when there is none."""
    try:
        data = json.loads((Path(str(sweep_dir)) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _items(override_dirname: str) -> list[tuple[str, str]]:
    """``k=v,k=v`` back into pairs; a comma inside a value (``[64,64]``) is not followed by ``key=``."""
    parts = re.split(r",(?=[A-Za-z_+~][\w.+~/@-]*=)", override_dirname)
    return [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in parts if p]


def job_name(override_dirname: str, varies: dict[str, dict[str, str]]) -> str:
    """A sweep job's folder name: only the overrides the sweep varies (a constant ``experiment=...`` would prefix
    every run name in TensorBoard), each value as the user typed it (``optimizer.lr=1e10``, not 10000000000.0)."""
    items = _items(override_dirname)
    if varies:
        kept = [(k, varies[k.lstrip("+~")].get(v, v)) for k, v in items if k.lstrip("+~") in varies]
        items = kept or items
    return ",".join(f"{k}={v}" for k, v in items)


def safe_name(text: str, varies: dict[str, dict[str, str]] | None = None) -> str:
    """A folder name from a sweep job's overrides: only what the sweep varies, as typed; no path separators, no
    characters shells or TensorBoard mind."""
    text = job_name(text, varies or {})
    text = text.replace("/", "_").replace(os.sep, "_")
    return re.sub(r"[^A-Za-z0-9_.,=+\-\[\]]", "_", text)[:200] or "job"


def _job_resolver(override_dirname: str, sweep_dir: str = "") -> str:
    return safe_name(str(override_dirname), read_manifest(sweep_dir).get("varies") if sweep_dir else None)


OmegaConf.register_new_resolver("nnml_fresh_dir", fresh_dir, use_cache=True, replace=True)
OmegaConf.register_new_resolver("nnml_job", _job_resolver, replace=True)
OmegaConf.register_new_resolver("nnml_safe", lambda text: safe_name(str(text)), replace=True)
