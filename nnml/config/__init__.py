"""Configuration: where the packaged configs are, the checks run before anything is built, and the one
``instantiate`` wrapper that refuses targets outside the allowed prefixes."""

from pathlib import Path


def config_dir() -> str:
    """Absolute path of the config folder: ``nnml/configs`` in an installed wheel, ``configs/`` in a checkout."""
    pkg = Path(__file__).resolve().parents[1]
    shipped = pkg / "configs"
    if (shipped / "train.yaml").is_file():
        return str(shipped)
    return str(pkg.parent / "configs")
