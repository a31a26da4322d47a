"""The single way nnml turns a config node into an object, and the rule for which ``_target_`` a config may name.

**The trust rule.** What the user names on this command's own command line or in their own config folder (``-cd
DIR``) is theirs to run: a new run trusts every target of its composed config (:meth:`Trust.own`). A config read
back from a run folder (eval, resume, predict, summary, accelerate, sample, recommend, a distillation teacher, a
pretrained encoder, a Frechet feature network) is data from disk, whoever wrote it: it may name only

- the callables of :func:`registry`: the torch.nn modules, torch.optim optimizers and lr_scheduler classes, and
  every ``_target_`` that nnml's shipped configs name (nnml's own registered parts and the torch functions they
  use), exact names, not module prefixes (``torch.load`` and many other callables under ``torch.`` load or run
  code, so a prefix is not a safe list); nnml's own parts only in the slot where its configs put them
  (:func:`shipped_slots`: a logger under ``logger``, a dataset under ``dataset``);
- the module prefixes the user names on *this* command line (``allowed_targets=[my_models.]`` or ``--allow
  my_models.``): their own code, which they chose to run. A folder's own ``allowed_targets`` list is ignored.

The check runs on the fully resolved config (:mod:`nnml.config.runfolder` resolves a folder's config, refusing
resolvers, before anything is checked), at every depth, and again at the one gate every object passes
(:func:`instantiate`, :func:`import_object`), before anything is imported. A user's module (``my_models.UNet``) is
found in the current folder, as ``python train.py`` would find it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from nnml.errors import NnmlError, did_you_mean


def walk_targets(node, path: str = ""):
    """``(where, target)`` for every ``_target_`` in a plain (container) config, at every depth."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k == "_target_":
                yield path or "<root>", str(v)
            else:
                yield from walk_targets(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from walk_targets(v, f"{path}[{i}]")


def _plain(cfg):
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(cfg, (DictConfig, ListConfig)):
        return OmegaConf.to_container(cfg, resolve=False)
    return cfg


@functools.cache
def registry() -> frozenset[str]:
    """Every callable a config read back from a run folder may name without the user's say-so (exact names).
    A pure function of the installed torch and the shipped config files, so it is computed once per process."""
    import torch

    names = {f"torch.nn.{n}" for n in torch.nn.modules.__all__}
    names |= {f"torch.optim.{n}" for n in torch.optim.__all__
              if isinstance(getattr(torch.optim, n, None), type) and issubclass(getattr(torch.optim, n),
                                                                                 torch.optim.Optimizer)}
    sched = torch.optim.lr_scheduler
    names |= {f"torch.optim.lr_scheduler.{n}" for n in sched.__all__
              if isinstance(getattr(sched, n, None), type)
              and issubclass(getattr(sched, n), (sched.LRScheduler, sched.ReduceLROnPlateau))}
    return frozenset(names | set(shipped_slots()))


@functools.cache
def shipped_slots() -> dict[str, frozenset[str]]:
    """``target -> the top-level keys (model, dataset, logger, ...) under which nnml's shipped configs name it``:
    a folder's config may name nnml's own parts only there (:meth:`Trust.check_slots`)."""
    from pathlib import Path

    import yaml

    from nnml.config import config_dir
    from nnml.config.aliases import upgrade

    root = Path(config_dir())
    slots: dict[str, set[str]] = {"nnml.tasks.supervised.task.SupervisedTask": {"task"}}  # before tasks existed
    for path in sorted(root.rglob("*.yaml")):
        try:
            text = path.read_text()
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        group = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else None
        for where, t in walk_targets(doc):
            # a group's option sits under the group's key unless it says @package _global_ (experiments, presets)
            top = group if group and "@package _global_" not in text else _top(where)
            slots.setdefault(upgrade(t), set()).add(top)
    return {t: frozenset(s) for t, s in slots.items()}


def _top(where: str) -> str:
    return where.split(".", 1)[0].split("[", 1)[0]


class Trust:
    """Which ``_target_`` a config may name: the :func:`registry`, exact ``targets`` the user named themselves and
    module ``prefixes`` they named on this command line."""

    def __init__(self, prefixes: Iterable[str] = (), targets: Iterable[str] = (), source: str = ""):
        from nnml.config.aliases import upgrade

        self.prefixes = tuple(str(p) for p in prefixes if str(p))
        self.targets = frozenset(upgrade(str(t)) for t in targets)
        self.source = source  # "the config of RUN" for a folder's config: named in refusals

    @classmethod
    def own(cls, cfg, prefixes: Iterable[str] = ()) -> Trust:
        """A new run's composed config is the user's own: its targets are trusted, and so are the module prefixes
        of its targets outside nnml and torch (a folder it reads, a teacher, may name the same user code)."""
        plain = _plain(cfg)
        targets = {t for _, t in walk_targets(plain)}
        given = [*prefixes, *(plain.get("allowed_targets") or [] if isinstance(plain, Mapping) else [])]
        return cls([*given, *user_prefixes(plain)], targets)

    @classmethod
    def folder(cls, prefixes: Iterable[str] = (), source: str = "") -> Trust:
        """A config read back from a run folder: the registry and the prefixes given on this command line."""
        return cls(prefixes, (), source)

    def allows(self, target: str) -> bool:
        from nnml.config.aliases import upgrade

        target = upgrade(str(target))
        return target in registry() or target in self.targets or (bool(self.prefixes)
                                                                   and target.startswith(self.prefixes))

    def check(self, cfg, at: str = "") -> None:
        """Refuse the first ``_target_`` of ``cfg`` (at every depth) that this trust does not allow."""
        for where, target in walk_targets(_plain(cfg), at):
            if not self.allows(target):
                raise self.refusal(where, target)

    def check_slots(self, cfg) -> None:
        """Refuse one of nnml's own parts named outside the slot where nnml's configs name it (a folder's config):
        each is harmless where it belongs, but some do things with their arguments elsewhere (a logger under
        ``model`` with ``run_dir: <another run>`` would write an event file into that folder as it is built).
        torch's classes and the prefixes named on this command line are exempt."""
        from nnml.config.aliases import upgrade

        slots = shipped_slots()
        for where, target in walk_targets(_plain(cfg)):
            target = upgrade(target)
            if target.startswith("torch.") or target in self.targets or (self.prefixes and
                                                                          target.startswith(self.prefixes)):
                continue
            if target in slots and _top(where) not in slots[target]:
                raise NnmlError(f"{self.source or 'the config'}: {where}._target_={target} is not allowed there; "
                                f"nnml's configs name it only under {', '.join(sorted(slots[target]))}, and a run "
                                f"folder may name nnml's parts only where nnml puts them")

    def refusal(self, where: str, target: str) -> NnmlError:
        module = target.split(".", 1)[0] + "."
        if self.source:
            shipped = sorted(t for t in registry() if t.rsplit(".", 1)[0] == target.rsplit(".", 1)[0])
            why = (f"; nnml runs only its own parts and torch's modules, optimizers and schedulers from a run folder"
                   f"{did_you_mean(target, shipped) if shipped else ''}, and your own code only when you name it on "
                   f"this command line (allowed_targets=[{module}] or --allow {module}; the folder's own "
                   f"allowed_targets list is not trusted)")
            return NnmlError(f"{self.source}: {where}._target_={target} is not allowed{why}")
        return NnmlError(f"{where}._target_={target} is not an allowed target; name it on the command line "
                         f"(allowed_targets=[{module}]) to trust it")


def user_prefixes(cfg) -> list[str]:
    """The top-level module prefixes (``my_models.``) of targets outside nnml and torch."""
    return sorted({t.split(".", 1)[0] + "." for _, t in walk_targets(_plain(cfg))
                   if not t.startswith(("torch.", "nnml."))})


def ensure_importable(target: str) -> None:
    """A user's own module is looked for in the current folder too (appended: installed packages win)."""
    import os
    import sys

    if not str(target).startswith(("torch.", "nnml.")):
        cwd = os.getcwd()
        if cwd not in sys.path and "" not in sys.path:
            sys.path.append(cwd)


def import_object(target: str, trust: Trust):
    """The object a dotted ``_target_`` names (``torch.optim.Adam``, ``my_models.UNet.build``), after ``trust``
    allowed it, imported as Hydra would but raising the import's own exception (Hydra's ``get_object`` logs a
    multi-line error first)."""
    import importlib

    from nnml.config.aliases import upgrade

    target = upgrade(target)
    if not trust.allows(target):
        raise trust.refusal("<object>", target)
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


def instantiate(node, *, key: str, trust: Trust, **kwargs):
    """``hydra.utils.instantiate(node, **kwargs)`` after ``trust`` allowed every target in ``node``, with old
    target paths upgraded (nnml/config/aliases.py) and a one-line error naming ``key``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate
    from omegaconf import DictConfig, OmegaConf

    if not isinstance(node, DictConfig):
        node = OmegaConf.create(dict(node))
    node = upgraded(node)
    trust.check(node, at=key)
    if "_target_" not in node:
        raise NnmlError(f"{key} has no _target_; it must name the class or function that builds it")
    for where, target in walk_targets(OmegaConf.to_container(node, resolve=False), key):
        try:  # the import's own error in one line, before Hydra logs its multi-line one
            import_object(target, trust)
        except NnmlError:
            raise
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
    """``node`` with the ``_target_`` paths at every depth made today's (nnml/config/aliases.py); a copy when any
    changes."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    from nnml.config.aliases import upgrade

    if not any(upgrade(t) != t for _, t in walk_targets(OmegaConf.to_container(node, resolve=False))):
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
