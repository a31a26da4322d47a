"""Compose the train config like ``nnml train`` does, without a run folder: the one helper, and the one place Hydra
is initialized outside its own ``@hydra.main`` entry points. The packaged configs plus a user's own config folder
(``-cd DIR``: its options are added to the shipped ones, and its own primary config is used when it has one), nnml's
resolvers registered. For the checks before a run, ``nnml tune``, ``nnml summary``, the Python API, tests and
scripts."""

from __future__ import annotations

from pathlib import Path


class Composer:
    """Hydra's compose API on ``config_name`` (``train``, or ``best`` of a tune study) with a user's ``-cd`` folder:

        with Composer(user_dir="conf") as c:
            cfg = c.compose(["model=tiny_net"])
    """

    def __init__(self, config_name: str = "train", user_dir: str | Path | None = None):
        from nnml.config import config_dir

        self.config_name = config_name
        self.user_dir = Path(user_dir).expanduser().resolve() if user_dir else None
        shipped = config_dir()
        if self.user_dir is not None and (self.user_dir / f"{config_name}.yaml").is_file():
            # The user's own primary config (-cn NAME: a tune study's best.yaml) is found in their folder first.
            self.primary, self.searchpath = str(self.user_dir), [shipped]
        elif self.user_dir is not None:
            # Hydra looks for options in its primary folder before its search path, so a user's folder on the search
            # path could add options but never replace a shipped one of the same name. A folder holding only the
            # shipped primary config comes first instead; then the user's folder, then the shipped options.
            self.primary, self.searchpath = primary_only(config_name), [str(self.user_dir), shipped]
        else:
            self.primary, self.searchpath = shipped, []
        self._ctx = None

    def hydra_args(self) -> tuple[list[str], list[str]]:
        """(flags, overrides) that make ``@hydra.main`` compose like this composer: ``nnml train -cd DIR`` becomes
        ``--config-path`` plus ``hydra.searchpath``, so the user's options win over shipped ones there too."""
        if self.user_dir is None:
            return [], []
        return ["--config-path", self.primary], self.base_overrides

    @property
    def base_overrides(self) -> list[str]:
        return [f"hydra.searchpath=[{','.join('file://' + p for p in self.searchpath)}]"] if self.searchpath else []

    def __enter__(self) -> Composer:
        from hydra import initialize_config_dir

        import nnml.config.resolvers  # noqa: F401  (the configs name nnml's resolvers)

        self._ctx = initialize_config_dir(config_dir=self.primary, version_base="1.3")
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)
        self._ctx = None

    def compose(self, overrides=(), return_hydra_config: bool = False):
        """The composed config (Hydra's own exceptions on a bad override: the checks before a run explain them)."""
        from hydra import compose

        if self._ctx is None:
            with self:
                return self.compose(overrides, return_hydra_config)
        return compose(config_name=self.config_name, overrides=[*self.base_overrides, *overrides],
                       return_hydra_config=return_hydra_config)


def compose_train(overrides=(), config_name: str = "train", user_dir: str | None = None,
                  return_hydra_config: bool = False):
    """The composed config (Hydra's compose API: no sweeps, no run folder)."""
    return Composer(config_name, user_dir).compose(list(overrides), return_hydra_config)


def primary_only(config_name: str) -> str:
    """A folder holding nothing but the shipped primary config ``config_name``.yaml (made once per content, in the
    temp folder): the first place Hydra searches when a user's folder must come before the shipped options."""
    import hashlib
    import os
    import tempfile

    from nnml.config import config_dir

    text = (Path(config_dir()) / f"{config_name}.yaml").read_bytes()
    folder = Path(tempfile.gettempdir()) / f"nnml-{os.getuid()}" / f"primary-{hashlib.sha256(text).hexdigest()[:16]}"
    target = folder / f"{config_name}.yaml"
    if not target.is_file() or target.read_bytes() != text:
        folder.mkdir(parents=True, exist_ok=True)
        from nnml.files import atomic_write

        atomic_write(target, lambda f: f.write(text))
    return str(folder)
