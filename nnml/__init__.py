"""nnml: a command-line experiment runner for neural networks in PyTorch, and its Python API.

Kept free of heavy imports so that ``nnml --help`` answers at once and ``import nnml`` costs nothing: torch is
imported by the modules that need it, and the Python API (:mod:`nnml.api`: ``nnml.train``, ``nnml.load``,
``nnml.runs``, ``nnml.compare``, ``nnml.verdict``, ``nnml.Run``) on its first use.
"""

from nnml.version import __version__

__all__ = ["__version__", "train", "load", "runs", "compare", "verdict", "Run"]

_API = ("train", "load", "runs", "compare", "verdict", "Run")


def __getattr__(name: str):
    if name in _API:
        from nnml import api

        return getattr(api, name)
    raise AttributeError(f"module 'nnml' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
