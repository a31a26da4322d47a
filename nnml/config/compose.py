"""Compose the train config like ``nnml train`` does, without a run folder: the packaged configs plus a user's own
config folder (``-cd DIR``), nnml's resolvers registered. For the precheck, ``nnml tune``, tests and scripts."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def hydra_context(user_dir: str | None = None):
    """Hydra initialized on the packaged configs, with ``user_dir`` (a ``-cd`` folder) searched first."""
    from hydra import initialize_config_dir

    import nnml.config.resolvers  # noqa: F401
    from nnml.config import config_dir

    if user_dir is None:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            yield
        return
    from pathlib import Path

    with initialize_config_dir(config_dir=str(Path(user_dir).resolve()), version_base="1.3"):
        yield


def compose_train(overrides=(), config_name: str = "train", user_dir: str | None = None,
                  return_hydra_config: bool = False):
    """The composed config (Hydra's compose API: no sweeps, no run folder)."""
    from hydra import compose

    overrides = list(overrides)
    if user_dir is not None:
        from nnml.config import config_dir

        overrides = [f"hydra.searchpath=[file://{config_dir()}]", *overrides]
    with hydra_context(user_dir):
        return compose(config_name=config_name, overrides=overrides, return_hydra_config=return_hydra_config)
