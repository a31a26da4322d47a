"""The single way nnml turns a config node into an object: Hydra's ``instantiate``, after checking every
``_target_`` against the allowed prefixes (torch, nnml, and those the user lists in ``allowed_targets``).

A config read back from a run folder (``nnml eval``, resume) is data from disk: without this check a folder whose
config names ``os.system`` would run it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nnml.errors import NnmlError

DEFAULT_ALLOWED = ("torch.", "nnml.")


def _targets(node, path: str = ""):
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k == "_target_":
                yield path or "<root>", str(v)
            else:
                yield from _targets(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _targets(v, f"{path}[{i}]")


def check_targets(cfg, extra: Iterable[str] = ()) -> None:
    """Refuse any ``_target_`` that does not start with an allowed prefix."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(cfg, (DictConfig, ListConfig)):
        cfg = OmegaConf.to_container(cfg, resolve=False)
    allowed = tuple(DEFAULT_ALLOWED) + tuple(str(p) for p in extra)
    for where, target in _targets(cfg):
        if not target.startswith(allowed):
            raise NnmlError(
                f"{where}._target_={target} is not an allowed target; allowed prefixes: {', '.join(allowed)} "
                f"(add a trusted prefix to allowed_targets to use it)"
            )


def instantiate(node, *, key: str, allowed: Iterable[str] = (), **kwargs):
    """``hydra.utils.instantiate(node, **kwargs)`` with the target check and a one-line error naming ``key``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate
    from omegaconf import DictConfig, OmegaConf

    check_targets(node, allowed)
    if not isinstance(node, DictConfig):
        node = OmegaConf.create(dict(node))
    if "_target_" not in node:
        raise NnmlError(f"{key} has no _target_; it must name the class or function that builds it")
    try:
        return hydra_instantiate(node, **kwargs)
    except NnmlError:
        raise
    except InstantiationException as e:
        cause = e.__cause__ or e
        if isinstance(cause, NnmlError):
            raise cause from None
        raise NnmlError(f"{key}: could not build {node._target_}: {_one_line(cause)}") from e
    except TypeError as e:
        raise NnmlError(f"{key}: could not build {node._target_}: {_one_line(e)}") from e


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    # Hydra wraps the real error: keep its last line, which names the bad argument.
    return text[-1] if text else type(e).__name__
