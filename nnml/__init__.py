"""nnml: a command-line experiment runner for neural networks in PyTorch.

Kept free of heavy imports so that ``nnml --help`` answers at once; torch is imported by the
modules that need it.
"""

__version__ = "0.1.0"
