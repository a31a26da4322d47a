"""The version of nnml (the one place it is written besides pyproject.toml, which tests keep equal)."""

__version__ = "0.1.0"
