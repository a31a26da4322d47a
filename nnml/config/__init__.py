"""Configuration: where the packaged configs are, composition like ``nnml train``, the checks of a composed
config, resolvers, run folders and the catalog of options (the allowed-target rule is ``nnml/config/targets.py``)."""

from pathlib import Path


def config_dir() -> str:
    """Absolute path of the config folder: ``nnml/configs`` in an installed wheel, ``configs/`` in a checkout."""
    pkg = Path(__file__).resolve().parents[1]
    shipped = pkg / "configs"
    if (shipped / "train.yaml").is_file():
        return str(shipped)
    return str(pkg.parent / "configs")
