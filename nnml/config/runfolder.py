"""A run folder: its layout, and reading it back as data, never as code.

Every command and builder that reads a finished run goes through :class:`RunFolder`: ``nnml eval``, ``predict``,
``summary``, ``accelerate``, ``sample``, ``recommend``, ``resume=``, ``compare``, a distillation teacher
(``task.teacher``), a pretrained encoder (``model.encoder``) and a Frechet feature network (``task.feature_net``).

Loading a folder's config (:meth:`RunFolder.load_config`) applies the trust rule of :mod:`nnml.config.targets`:

1. the YAML is read with a safe loader: a ``!!python`` tag or broken YAML is one line naming the file and line;
2. resolvers (``${oc.create:...}``, ``${oc.env:...}``, nnml's own) are refused: only plain interpolations between
   the config's own keys (``T_max: ${trainer.max_epochs}``) are resolved, and the result is plain data, so nothing
   produces a ``_target_`` after the check;
3. every ``_target_`` at every depth must be in the registry of callables or under a prefix the user named on this
   command line, and nnml's own parts only in their slot (a logger under ``logger``); the folder's own
   ``allowed_targets`` is ignored (a note says so).

A run folder holds::

    .hydra/config.yaml, hydra.yaml, overrides.yaml   the composed config, Hydra's record, the command's overrides
    .hydra/config.original.yaml                       the config it started with, once a resume changed it
    checkpoints/best.pt, last.pt, epoch-NNNN.pt       weights (weights_only loads), top_k.json
    metrics.json, metrics.csv, train.log, error.txt   results, per-epoch rows, the log, why it failed
    predictions/val.npz, predictions/test.npz         per-sample records of the final evaluations (nnml.run.records)
    accelerated/<variant>/                            nnml accelerate's artifacts and report
    .nnml.lock                                        the lock of the process writing the run (pid, host)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from nnml.errors import NnmlError

CONFIG = Path(".hydra") / "config.yaml"
LOCK = ".nnml.lock"


def safe_yaml(path: Path, what: str = ""):
    """The YAML document in ``path`` as plain data; a ``!!python`` tag (or any tag that builds objects) or broken
    YAML is one line naming the file and the line."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise NnmlError(f"{path}: not a text file (byte {e.start} is not UTF-8){what}") from None
    except OSError as e:
        raise NnmlError(f"{path}: cannot be read ({e.strerror}){what}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = " ".join(str(e.problem or e.context or "invalid YAML").split())
        if isinstance(e, yaml.constructor.ConstructorError):
            raise NnmlError(f"{where}: a tag nnml does not load ({problem}); a run folder's files are plain YAML, "
                            f"and a tag that builds Python objects is never read from one{what}") from None
        raise NnmlError(f"{where}: invalid YAML ({problem}){what}") from None
    except yaml.YAMLError as e:
        raise NnmlError(f"{path}: invalid YAML ({' '.join(str(e).split())}){what}") from None
    _check_size(data, path)
    return data


MAX_NODES = 200_000  # YAML aliases can make a small file a huge tree: a run's config has a few hundred keys
MAX_DEPTH = 64


def _check_size(data, path: Path) -> None:
    """Refuse a tree that aliases make enormous or circular (a hand-made file), before anything walks it."""
    budget = [MAX_NODES]

    def walk(node, depth: int):
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise NnmlError(f"{path}: too large or too deeply nested for a run's config (more than {MAX_NODES} "
                            f"values or {MAX_DEPTH} levels; YAML aliases?)")
        if isinstance(node, dict):
            for v in node.values():
                walk(v, depth + 1)
        elif isinstance(node, list):
            for v in node:
                walk(v, depth + 1)

    walk(data, 0)


_RESOLVER = re.compile(r"\$\{\s*[\w.\-]+\s*:")


def _refuse_resolvers(node, path: str, source: str) -> None:
    """Only ``${key.path}`` interpolations are allowed in a folder's config: a resolver (``${name:...}``) is code."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and "${" in k:
                raise NnmlError(f"{source}: the key {k!r} holds an interpolation; keys read from a run folder are "
                                f"plain names")
            _refuse_resolvers(v, f"{path}.{k}" if path else str(k), source)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _refuse_resolvers(v, f"{path}[{i}]", source)
    elif isinstance(node, str) and _RESOLVER.search(node):
        raise NnmlError(f"{source}: {path}={node} calls a resolver; a config read from a run folder may hold only "
                        f"plain values and ${{key}} references to its own keys")


def _refuse_leftovers(node, path: str, source: str) -> None:
    """After resolution no string may still look like an interpolation (an escaped ``\\${...}`` would become one
    again when the plain data is turned back into a config)."""
    if isinstance(node, dict):
        for k, v in node.items():
            _refuse_leftovers(v, f"{path}.{k}" if path else str(k), source)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _refuse_leftovers(v, f"{path}[{i}]", source)
    elif isinstance(node, str) and "${" in node:
        raise NnmlError(f"{source}: {path}={node} holds an escaped interpolation; a config read from a run folder "
                        f"may hold only plain values")


class RunFolder:
    """The files of one run, and the one way to read its config (see the module docstring)."""

    def __init__(self, path, role: str = ""):
        self.path = Path(str(path)).expanduser()
        self.role = role  # how the user named it: "resume", "task.teacher", ... (for messages)
        self.notes: list[str] = []  # things the caller should tell the user (an ignored allowed_targets list)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------------ layout
    @property
    def hydra_dir(self) -> Path:
        return self.path / ".hydra"

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def original_config_file(self) -> Path:
        return self.hydra_dir / "config.original.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.json"

    @property
    def error_file(self) -> Path:
        return self.path / "error.txt"

    def predictions(self, split: str) -> Path:
        """The per-sample records of ``split``'s final evaluation (:mod:`nnml.run.records`)."""
        return self.path / "predictions" / f"{split}.npz"

    @property
    def accelerated(self) -> Path:
        return self.path / "accelerated"

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK

    def is_run(self) -> bool:
        return self.config_file.is_file()

    def _named(self) -> str:
        return f"{self.role}={self.path}" if self.role else str(self.path)

    def require(self, hint: str = "give a folder under outputs/<task>/runs/ or a sweep job's folder") -> RunFolder:
        """This folder, or one line saying it is missing or not a run folder."""
        if not self.path.exists():
            raise NnmlError(f"{self._named()}: no such run folder; {hint}")
        if not self.path.is_dir():
            raise NnmlError(f"{self._named()}: is a file, not a run folder; {hint}")
        if not self.is_run():
            raise NnmlError(f"{self._named()} is not an nnml run folder (no .hydra/config.yaml); {hint}")
        return self

    def checkpoint(self, name: str = "best") -> Path:
        """``best``, ``last``, a file of the run's checkpoints/ folder (``epoch-0007.pt``) or a path. A run with no
        validation split keeps no best.pt: its final weights (last.pt) are what it tested, so ``best`` means last.pt
        there."""
        folder = self.checkpoints
        if name in ("best", "last"):
            path = folder / f"{name}.pt"
            last = folder / "last.pt"
            if name == "best" and not path.is_file() and last.is_file():
                m = self.metrics() or {}
                if m.get("best_epoch") == m.get("epochs"):
                    return last
            return path
        given = Path(name)
        if not given.exists() and given.parent == Path(".") and (folder / given.name).is_file():
            return folder / given.name
        if not given.exists():
            kept = sorted(p.name for p in folder.glob("*.pt") if p.stem not in ("best", "last")) if folder.is_dir() \
                else []
            raise NnmlError(f"--checkpoint {name}: no such file; choose best, last"
                            f"{', ' + ', '.join(kept) if kept else ''} (the files in {folder}) or a path")
        return given

    # ------------------------------------------------------------------ what the run says about itself (data)
    def metrics(self) -> dict | None:
        """metrics.json, or None when the run has none or it is not JSON."""
        try:
            m = json.loads(self.metrics_file.read_text())
        except (OSError, ValueError):
            return None
        return m if isinstance(m, dict) else None

    def error(self) -> str | None:
        try:
            return " ".join(self.error_file.read_text(errors="replace").split()) or "no message"
        except OSError:
            return None

    def finished(self) -> bool:
        return self.metrics() is not None and self.error() is None

    def raw_config(self) -> dict:
        """The saved config as plain data (safe YAML), unresolved and unchecked: for tables and diffs, never for
        building anything."""
        self.require()
        doc = safe_yaml(self.config_file)
        if not isinstance(doc, dict):
            raise NnmlError(f"{self.config_file}: not a config (a YAML mapping of groups and keys)")
        return doc

    def choices(self) -> dict:
        """group -> option as the run was started (``.hydra/hydra.yaml``), for messages and task set-up."""
        path = self.hydra_dir / "hydra.yaml"
        try:
            doc = safe_yaml(path) if path.is_file() else {}
            choices = ((doc or {}).get("hydra") or {}).get("runtime", {}).get("choices") or {}
        except (NnmlError, AttributeError):
            return {}
        return {str(k): str(v) for k, v in choices.items() if not str(k).startswith("hydra/") and v is not None}

    def overrides(self) -> list[str]:
        path = self.hydra_dir / "overrides.yaml"
        try:
            doc = safe_yaml(path) if path.is_file() else []
        except NnmlError:
            return []
        return [str(o) for o in doc] if isinstance(doc, list) else []

    # ------------------------------------------------------------------ the trust rule
    def load_config(self, allow: Iterable[str] = (), overrides: Iterable[str] = (), apply_overrides=None):
        """(config, trust): the run's saved config read as data (module docstring), ``overrides`` applied before it
        is resolved (``apply_overrides(cfg, overrides, source)``, the CLI's checked ``key=value`` parser), every
        target checked against the registry and the prefixes in ``allow`` (named on this command line)."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        from nnml.config.targets import Trust, upgraded

        source = f"the config of {self.path}"
        doc = self.raw_config()
        _refuse_resolvers(doc, "", str(self.config_file))
        stored = [str(p) for p in (doc.get("allowed_targets") or [])] if isinstance(
            doc.get("allowed_targets"), list) else []
        try:
            cfg = OmegaConf.create(doc)
            overrides = list(overrides)
            if overrides:
                if apply_overrides is None:
                    raise NnmlError(f"{source}: overrides given without a parser")
                cfg = apply_overrides(cfg, overrides, source)
            plain = OmegaConf.to_container(cfg, resolve=True)
        except OmegaConfBaseException as e:
            raise NnmlError(f"{self.config_file}: {str(e).splitlines()[0]}") from None
        _refuse_leftovers(plain, "", str(self.config_file))
        allow = [str(a) for a in allow]
        plain["allowed_targets"] = allow
        cfg = upgraded(OmegaConf.create(plain))
        trust = Trust.folder(allow, source=source)
        trust.check(cfg)
        trust.check_slots(cfg)
        ignored = [p for p in stored if p not in allow]
        if ignored:
            self.notes.append(f"{self._named()} lists allowed_targets {ignored} in its config; a run folder's own "
                              f"list is not trusted (its targets passed the check without it)")
        return cfg, trust

    # ------------------------------------------------------------------ writing (the run that owns the folder)
    def write_error(self, message: str) -> None:
        """error.txt says why the run stopped; a run that had finished keeps its status (a failed extension of it
        is reported, not recorded as the run's failure). Written atomically: a full disk leaves no empty file."""
        if self.metrics() is not None:
            return
        from nnml.files import atomic_write_text

        try:
            atomic_write_text(self.error_file, message + "\n")
        except OSError:
            pass

    def lock(self):
        """Take this folder's exclusive lock (nnml/files.py): one writer per run folder. Refused in one line when a
        live process holds it; a lock left by a dead process is taken over."""
        from nnml.files import FolderLock, Locked

        try:
            return FolderLock(self.lock_file).acquire()
        except Locked as e:
            raise NnmlError(f"{self.path} is being written by another nnml process ({_owner(e.owner)}); wait for it "
                            f"to finish or choose another folder") from None

    def is_locked(self) -> bool:
        from nnml.files import FolderLock

        return FolderLock(self.lock_file).is_held_elsewhere()

    def locked_message(self) -> str:
        from nnml.files import FolderLock

        return (f"{self.path} is being written by another nnml process ({_owner(FolderLock(self.lock_file).owner())}); "
                f"wait for it to finish or choose another folder")

    def clear_error(self) -> None:
        self.error_file.unlink(missing_ok=True)

    def remove_temp_files(self) -> list[Path]:
        """Temp files that interrupted atomic writes left (``.<name>.*.tmp``): never results, removed by the next
        run or resume of the folder (which holds the lock, so no writer is using them)."""
        removed = []
        for folder in (self.path, self.hydra_dir, self.checkpoints):
            if folder.is_dir():
                for p in folder.glob(".*.tmp"):
                    try:
                        p.unlink()
                        removed.append(p)
                    except OSError:
                        pass
        return removed


def _owner(owner: dict) -> str:
    if not owner:
        return "owner unknown"
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')} since {owner.get('since', '?')}"
