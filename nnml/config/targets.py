"""The single way nnml turns a config node into an object: Hydra's ``instantiate``, after checking every
``_target_`` against the allowed prefixes (torch, nnml, and those the user lists in ``allowed_targets``).
It sits in the base layer, beside the errors, because every layer that reads a config uses the one rule: the run's
builder, the checks before a run, and a model that rebuilds another run's encoder (``model=pretrained``).

The trust rule: what the user names on their own command line or in their own config folder (``-cd DIR``) is
theirs to run, so a new run trusts every target of its composed config and records the prefixes beyond torch. and
nnml. in its saved config's ``allowed_targets`` (:func:`user_prefixes`). A config read back from a run folder
(``nnml eval``, resume, tune, predict) is data from disk: it may name only torch., nnml. and the prefixes it
recorded, and the check runs before anything is imported, so a folder whose config names ``os.system`` (or a
module lying in the current folder that the run never named) is refused without importing it.
A user's module (``my_models.UNet``) is found in the current folder, as ``python train.py`` would find it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nnml.errors import NnmlError, did_you_mean

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


def check_targets(cfg, extra: Iterable[str] = (), at: str = "") -> None:
    """Refuse any ``_target_`` that does not start with an allowed prefix; ``at`` is where ``cfg`` sits in its
    config (``model``), for the message."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(cfg, (DictConfig, ListConfig)):
        cfg = OmegaConf.to_container(cfg, resolve=False)
    allowed = tuple(DEFAULT_ALLOWED) + tuple(str(p) for p in extra)
    for where, target in _targets(cfg, at):
        if not target.startswith(allowed):
            raise NnmlError(
                f"{where}._target_={target} is not an allowed target; allowed prefixes: {', '.join(allowed)} "
                f"(add a trusted prefix to allowed_targets to use it)"
            )


def user_prefixes(cfg, extra: Iterable[str] = ()) -> list[str]:
    """The top-level module prefixes (``my_models.``) of targets outside torch., nnml. and ``extra``."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(cfg, (DictConfig, ListConfig)):
        cfg = OmegaConf.to_container(cfg, resolve=False)
    allowed = tuple(DEFAULT_ALLOWED) + tuple(str(p) for p in extra)
    return sorted({t.split(".", 1)[0] + "." for _, t in _targets(cfg) if not t.startswith(allowed)})


def ensure_importable(target: str) -> None:
    """A user's own module is looked for in the current folder too (appended: installed packages win)."""
    import os
    import sys

    if not str(target).startswith(DEFAULT_ALLOWED):
        cwd = os.getcwd()
        if cwd not in sys.path and "" not in sys.path:
            sys.path.append(cwd)


def import_object(target: str):
    """The object a dotted ``_target_`` names (``torch.optim.Adam``, ``my_models.UNet.build``), imported as Hydra
    would, but raising the import's own exception (Hydra's ``get_object`` logs a multi-line error first)."""
    import importlib

    from nnml.config.aliases import upgrade

    target = upgrade(target)
    ensure_importable(target)
    parts = str(target).split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is not None and module.startswith(e.name) and i > 1:
                continue  # `module` is not a module (a class inside one): try its parent
            raise
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(f"cannot import {target}")


def import_failure(target: str, path: str, error: Exception) -> NnmlError:
    """Why ``target`` does not import, in one line: the module is missing (where nnml looked), the module itself
    raised (the exception and its file and line: Hydra's own message would only ask whether it is installed), or
    the module lacks the name."""
    import importlib
    import os
    import traceback

    head = f"{path}._target_={target} cannot be imported"
    module, _, name = str(target).rpartition(".")
    try:
        loaded = importlib.import_module(module) if module else None
    except ModuleNotFoundError as e:
        missing = e.name or module
        parent = missing.rpartition(".")[0]
        if missing.split(".")[0] == module.split(".")[0] and not parent:
            return NnmlError(f"{head}: no module named {missing} (looked in the installed packages and in "
                             f"{os.getcwd()}); put {missing}.py in the folder you run nnml from, or check the spelling")
        if module.startswith(missing):
            import pkgutil

            try:
                siblings = [f"{parent}.{m.name}" for m in pkgutil.iter_modules(importlib.import_module(parent).__path__)]
            except Exception:
                siblings = []
            return NnmlError(f"{head}: no module named {missing}{did_you_mean(missing, siblings)}")
        return NnmlError(f"{head}: importing {module} failed: {e}")
    except Exception as e:
        frame = next((f for f in reversed(traceback.extract_tb(e.__traceback__))
                      if not f.filename.startswith("<frozen")), None)
        where = f" ({os.path.relpath(frame.filename)}:{frame.lineno})" if frame else ""
        return NnmlError(f"{head}: importing {module} raised {type(e).__name__}: "
                         f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}{where}")
    if loaded is not None and not hasattr(loaded, name):
        names = [n for n in dir(loaded) if not n.startswith("_")]
        return NnmlError(f"{head}: module {module} has no {name}{did_you_mean(name, names)}")
    reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return NnmlError(f"{head} ({reason}); check the spelling of the module and class")


def instantiate(node, *, key: str, allowed: Iterable[str] = (), **kwargs):
    """``hydra.utils.instantiate(node, **kwargs)`` with the target check and a one-line error naming ``key``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate
    from omegaconf import DictConfig, OmegaConf

    check_targets(node, allowed, at=key)
    if not isinstance(node, DictConfig):
        node = OmegaConf.create(dict(node))
    node = upgraded(node)
    if "_target_" not in node:
        raise NnmlError(f"{key} has no _target_; it must name the class or function that builds it")
    for where, target in _targets(OmegaConf.to_container(node, resolve=False), key):
        try:  # the import's own error in one line, before Hydra logs its multi-line one
            import_object(target)
        except Exception as e:
            raise import_failure(target, where, e) from None
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


def upgraded(node):
    """A copy of ``node`` whose ``_target_`` paths at every depth are today's (nnml/config/aliases.py)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    from nnml.config.aliases import upgrade

    if not any(upgrade(t) != t for _, t in _targets(OmegaConf.to_container(node, resolve=False))):
        return node
    node = node.copy()

    def walk(n):
        if isinstance(n, DictConfig):
            for k in list(n.keys()):
                if k == "_target_":
                    n[k] = upgrade(n[k])
                else:
                    walk(n._get_node(k))
        elif isinstance(n, ListConfig):
            for i in range(len(n)):
                walk(n._get_node(i))

    walk(node)
    return node


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    # Hydra wraps the real error: keep its last line, which names the bad argument.
    return text[-1] if text else type(e).__name__
