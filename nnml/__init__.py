"""nnml: a command-line experiment runner for neural networks in PyTorch.

Kept free of heavy imports so that ``nnml --help`` answers at once; torch is imported by the modules that need it.
"""

from nnml.version import __version__

__all__ = ["__version__"]
