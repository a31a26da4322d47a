"""The ``nnml`` command line: the Typer app (``app.py``), one module per command, the checks before a run
(``checks/``), the Hydra entry points (``entry.py``) and the one-line error reporting. Nothing below this package
prints to the terminal, apart from the tracking callbacks that observe a run."""

from nnml.cli.app import app, main

__all__ = ["app", "main"]
