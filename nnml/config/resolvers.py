"""nnml's OmegaConf resolvers, registered when this module is imported: every path that composes configs like
``nnml train`` (the Hydra entry points, the precheck, tune, tests, scripts) imports it.

- ``${nnml_fresh_dir:PATH}``: a run folder that never existed before, claimed atomically (``PATH``, ``PATH-1``, ...).
- ``${nnml_safe:TEXT}``: a sweep job's folder name from its overrides, without ``/`` or characters shells mind.
"""

from __future__ import annotations

import os
import re

from omegaconf import OmegaConf


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


def safe_name(text: str) -> str:
    """A folder name from a sweep job's overrides: no path separators, no characters shells or TensorBoard mind."""
    text = text.replace("/", "_").replace(os.sep, "_")
    return re.sub(r"[^A-Za-z0-9_.,=+\-\[\]]", "_", text)[:200] or "job"


OmegaConf.register_new_resolver("nnml_fresh_dir", fresh_dir, use_cache=True, replace=True)
OmegaConf.register_new_resolver("nnml_safe", safe_name, replace=True)
