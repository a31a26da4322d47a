"""Where a run came from, written beside its results as ``provenance.json``: the command as typed, nnml's version
and git state, the user's own code (its git commit and diff, or the hashes of its files), the versions of Python,
torch, numpy, CUDA, cuDNN and of every package the config names, the machine (host, CPU, GPUs), the thread count
and the seeds. ``nnml diff`` compares two runs' records.

Everything run-specific comes in as arguments; what is read here are facts of the process and the machine (the
package paths, /proc/cpuinfo, the host name). Every probe that can fail (no git, not a checkout, a git that hangs)
gives null for its field, never an error: a record must never stop a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

FILE_NAME = "provenance.json"
FORMAT = 1  # bump when a field changes meaning
GIT_TIMEOUT_S = 5.0
MAX_DIFF_BYTES = 200_000
MAX_LISTED = 50      # changed or untracked paths listed per checkout
MAX_HASHED = 1000    # files hashed per user module


def collect(*, argv: Iterable[str], cwd, config=None, user_modules: Iterable[str] | None = None,
            threads: int | None = None, seeds: Mapping | None = None, device: str | None = None) -> dict:
    """The provenance record of a run, as plain JSON data.

    ``argv``: the command line as typed (``["nnml", "train", "optimizer=adam"]``); ``cwd``: the folder it was typed
    in; ``config``: the run's config (a DictConfig or a plain mapping), whose ``_target_``s name the packages whose
    versions are recorded; ``user_modules``: the top-level names of the user's own modules the run imports
    (``["my_models"]``), by default those of the config's targets outside torch. and nnml.; ``threads``: torch's
    intra-op thread count; ``seeds``: every seed the run used (``{"seed": 42}``); ``device``: the device it ran on.
    """
    cwd = Path(cwd)
    targets = target_modules(config) if config is not None else []
    dists = Distributions()
    if user_modules is None:
        user_modules = [m for m in targets if m not in ("torch", "nnml")]
    return {
        "format": FORMAT,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "argv": [str(a) for a in argv],
        "cwd": str(cwd.resolve()),
        "nnml": nnml_source(),
        "user_code": {name: user_code(name, cwd, dists) for name in dict.fromkeys(user_modules)},
        "versions": versions(targets, dists),
        "machine": machine(),
        "device": None if device is None else str(device),
        "threads": None if threads is None else int(threads),
        "seeds": {str(k): _plain(v) for k, v in (seeds or {}).items()},
    }


def write(run_dir, record: dict) -> Path:
    """Write ``record`` to ``run_dir/provenance.json`` atomically; returns the file's path."""
    from nnml.files import atomic_write_text

    path = Path(run_dir) / FILE_NAME
    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


def read(run_dir) -> dict | None:
    """``run_dir/provenance.json`` as a dict, or None when the run has none (or it is not a JSON object)."""
    try:
        doc = json.loads((Path(run_dir) / FILE_NAME).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def segments(doc: dict | None) -> list[dict]:
    """Every segment's record of a provenance.json, oldest first: the file's own fields, then its ``resumes``."""
    if not doc:
        return []
    first = {k: v for k, v in doc.items() if k != "resumes"}
    later = [r for r in doc.get("resumes") or [] if isinstance(r, dict)]
    return [first, *later]


class RunRecord:
    """A run's provenance.json while one segment of it runs. A run's first segment is the file's own fields (what
    ``nnml diff`` compares); each resume appends its own record to the file's ``resumes`` list, so the record of how
    the run began is never rewritten. ``update`` fills in what the run learns after it started (the thread count
    it chose, the epoch a resume continued from) and writes the file again."""

    def __init__(self, run_dir, record: dict, resumed: bool):
        self.run_dir = Path(run_dir)
        self.segment = record
        earlier = read(self.run_dir) if resumed else None
        if earlier is not None:
            earlier.setdefault("resumes", []).append(record)
            self.doc = earlier
        else:  # a new run, or a resumed run from before provenance.json was written (its from_epoch says so)
            self.doc = record
        write(self.run_dir, self.doc)

    def update(self, **fields) -> None:
        if all(self.segment.get(k) == v for k, v in fields.items()):
            return
        self.segment.update(fields)
        write(self.run_dir, self.doc)


def target_modules(config) -> list[str]:
    """The top-level modules of every ``_target_`` in ``config``, in the order they appear."""
    from nnml.config.targets import walk_targets

    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(config, (DictConfig, ListConfig)):
            config = OmegaConf.to_container(config, resolve=False)
    except ImportError:  # pragma: no cover - omegaconf is a dependency of nnml
        pass
    return list(dict.fromkeys(str(t).split(".", 1)[0] for _, t in walk_targets(config) if str(t)))


# ---- git ------------------------------------------------------------------------------------------------------------

def _git(folder: Path, *args: str) -> str | None:
    """``git -C folder ARGS``'s stdout, or None when git is missing, fails or takes longer than the timeout."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:  # no index.lock taken (GIT_OPTIONAL_LOCKS): a sweep's jobs and the user's own git may run at once
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, timeout=GIT_TIMEOUT_S, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", errors="replace") if out.returncode == 0 else None


def git_state(folder: Path, pathspec: Path | None = None, with_diff: bool = False) -> dict | None:
    """The commit of the checkout holding ``folder``, whether it is dirty (within ``pathspec`` when given: tracked
    changes and untracked files that are not ignored), the changed paths, and with ``with_diff`` the diff against
    the commit (cut at MAX_DIFF_BYTES, with a note). None when ``folder`` is not in a git work tree."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    top_path = Path(top.strip())
    spec = []
    if pathspec is not None:
        try:
            spec = ["--", Path(os.path.relpath(Path(pathspec).resolve(), top_path.resolve())).as_posix()]
        except ValueError:
            spec = []
    head = _git(top_path, "rev-parse", "HEAD")
    status = _git(top_path, "status", "--porcelain", *spec)
    changed = [line for line in (status or "").splitlines() if line.strip()]
    state = {
        "root": str(top_path),
        "commit": head.strip() if head else None,  # None: a repository without commits
        "dirty": None if status is None else bool(changed),
        "changed": changed[:MAX_LISTED],
    }
    if len(changed) > MAX_LISTED:
        state["changed_note"] = f"{len(changed)} changed paths, the first {MAX_LISTED} listed"
    if with_diff:
        state.update(_diff(top_path, spec) if head else {"diff": None})
    return state


def _diff(top: Path, spec: list[str]) -> dict:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        out = subprocess.run(["git", "-C", str(top), "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv",
                              *spec], capture_output=True, timeout=GIT_TIMEOUT_S, env=env)
    except (OSError, subprocess.SubprocessError):
        return {"diff": None}
    if out.returncode != 0:
        return {"diff": None}
    raw = out.stdout
    result = {"diff": raw[:MAX_DIFF_BYTES].decode("utf-8", errors="replace"),
              "diff_sha256": hashlib.sha256(raw).hexdigest(), "diff_bytes": len(raw)}
    if len(raw) > MAX_DIFF_BYTES:
        result["diff_note"] = f"cut at {MAX_DIFF_BYTES} of {len(raw)} bytes; diff_sha256 is of the whole diff"
    return result


# ---- nnml and the user's code ---------------------------------------------------------------------------------------

def nnml_source() -> dict:
    """nnml's version, and its checkout's commit and state when nnml runs from a git checkout (else null)."""
    import nnml.version
    from nnml.version import __version__

    package = Path(nnml.version.__file__).resolve().parent
    record = {"version": __version__, "path": str(package), "git": None}
    state = git_state(package, pathspec=None)
    # A checkout that merely contains an installed nnml (a virtual environment inside a project) is not nnml's:
    # the package's own files must be tracked there.
    if state is not None and _git(package, "ls-files", "--error-unmatch", "version.py") is not None:
        record["git"] = state
    return record


def _module_location(name: str, cwd: Path) -> tuple[Path | None, bool]:
    """(the file of a single-file module or the folder of a package, whether it is a package), without importing
    it: the loaded module when there is one, else found on sys.path and then in ``cwd`` (where nnml looks)."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, [*sys.path, str(cwd)])
        origin = spec.origin if spec is not None and spec.has_location else None
    if origin is None:
        return None, False
    path = Path(origin).resolve()
    if path.name == "__init__.py":
        return path.parent, True
    return path, False


def user_code(name: str, cwd, dists: Distributions | None = None) -> dict:
    """One of the user's modules: where it is, its git state (commit, dirty, diff of its folder) or, outside git,
    nothing more, and always the sha256 of its files (so two runs' code compares even without git). A module
    installed from a package registry (not in a checkout) is named by its distribution and version instead."""
    location, is_package = _module_location(name, Path(cwd))
    if location is None:
        return {"path": None, "note": f"module {name} not found"}
    folder = location if is_package else location.parent
    # A module that git ignores (a package installed in a virtual environment inside a project) is not that
    # project's code; one not yet added still is (the checkout is dirty with it).
    ignored = _git(folder, "check-ignore", "-q", str(location)) is not None
    record: dict = {"path": str(location), "git": None if ignored else git_state(folder, pathspec=folder, with_diff=True)}
    if record["git"] is None:
        provided_by = (dists or Distributions())(name) if _in_site_packages(location) else []
        if provided_by:
            record["distribution"] = {d: _version(d) for d in provided_by}
            return record
    files = _module_files(name, location, is_package)
    hashes = {}
    for f in files[:MAX_HASHED]:
        try:
            hashes[Path(os.path.relpath(f, folder)).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
        except (OSError, ValueError):
            continue
    record["files"] = hashes
    record["sha256"] = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
    if len(files) > MAX_HASHED:
        record["files_note"] = f"{len(files)} files, the first {MAX_HASHED} hashed"
    return record


def _module_files(name: str, location: Path, is_package: bool) -> list[Path]:
    """A package's .py files; a single-file module and the other modules the run loaded from its folder (the
    helpers ``my_models.py`` imports beside it)."""
    if is_package:
        return sorted(p for p in location.rglob("*.py") if "__pycache__" not in p.parts)
    folder = location.parent
    found = {location}
    for mod_name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or mod_name == "__main__" or mod_name.split(".")[0] == "nnml":
            continue
        path = Path(file).resolve()
        top = path.parent if path.name == "__init__.py" else path
        depth = len(mod_name.split("."))  # a submodule a.b.c sits depth-1 folders below its package's parent
        for _ in range(depth - 1):
            top = top.parent
        if top.parent == folder:
            found.add(path)
    return sorted(found)


def _in_site_packages(path: Path) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in path.parts)


# ---- versions and machine -------------------------------------------------------------------------------------------

class Distributions:
    """Which installed distributions provide a top-level module. The distribution of the module's own name is
    checked first (torch, numpy: a few file reads); only other names (sklearn from scikit-learn) scan every
    installed package's metadata, once (about 0.3 s)."""

    def __init__(self):
        self._all: dict | None = None

    def __call__(self, module: str) -> list[str]:
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            if module in _top_level(distribution(module)):
                return [module]
        except (PackageNotFoundError, ValueError):
            pass
        if self._all is None:
            from importlib.metadata import packages_distributions

            try:
                self._all = {k: sorted(set(v)) for k, v in packages_distributions().items()}
            except Exception:  # a broken installed package's metadata: no versions rather than no run
                self._all = {}
        return self._all.get(module, [])


def _top_level(dist) -> set[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    return {Path(f.parts[0]).stem for f in (dist.files or ()) if f.parts and not f.parts[0].endswith(".dist-info")}


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except (PackageNotFoundError, ValueError):
        return None


def versions(target_modules: Iterable[str] = (), dists: Distributions | None = None) -> dict:
    """Python, torch, numpy, CUDA and cuDNN (null on CPU builds), and the installed distributions that provide the
    config's target modules (``{"torch": {"torch": "2.5.1"}}``; a module that no distribution provides, such as
    the user's own file or nnml run from a checkout, is left out)."""
    out: dict = {"python": platform.python_version(), "python_implementation": platform.python_implementation()}
    try:
        import torch

        out["torch"] = torch.__version__
        out["cuda"] = torch.version.cuda
        out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except Exception:
        out.update(torch=None, cuda=None, cudnn=None)
    try:
        import numpy

        out["numpy"] = numpy.__version__
    except Exception:
        out["numpy"] = None
    packages = {}
    dists = dists or Distributions()
    for module in target_modules:
        if module == "nnml":  # its own entry says which nnml ran (an installed nnml may be another one)
            continue
        for dist in dists(module):
            packages[dist] = _version(dist)
    out["packages"] = dict(sorted(packages.items()))
    return out


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def gpu_names() -> list[str]:
    try:
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:
        pass
    return []


def machine() -> dict:
    return {"host": socket.gethostname(), "platform": platform.platform(), "cpu": cpu_model(),
            "cpu_count": os.cpu_count(), "gpus": gpu_names()}


def _plain(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return str(v)
