"""Commands beyond train/eval/list/board/lab/tune/compare: one module per command, each with ``register(app)``.

Every module in this package is imported when the CLI starts (they import only typer and the standard library at
module level; the work happens inside the command), so a new command is a new file here and nothing else."""

from __future__ import annotations

import importlib
import pkgutil


def register_all(app) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}").register(app)
