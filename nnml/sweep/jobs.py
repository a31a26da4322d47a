"""A sweep's jobs and their folders, so that the same ``nnml train -m`` command (or ``--continue``) finishes a sweep
that stopped half-way instead of starting it again.

A job's folder (named by what the sweep varies, :mod:`nnml.config.resolvers`) is in one of four states:

- ``new``: no folder, or an empty one;
- ``done``: ``metrics.json`` and no ``error.txt``: the job finished; the continued sweep leaves its folder as it is
  (not a byte changes) and reports its recorded metrics;
- ``interrupted``: ``checkpoints/last.pt`` and no ``metrics.json``, stopped by a signal (``error.txt`` says
  "stopped by ...") or killed (no ``error.txt``): it resumes from ``last.pt``, as ``nnml train resume=JOB`` would;
- ``failed``: anything else (``error.txt`` of a crash or a bad value, or a job killed before its first checkpoint):
  it runs again from the start, its earlier attempt moved into the job folder's ``.failed-N/``.

A job that is ``done`` or ``interrupted`` continues only with the config it was trained with: the config composed
now must equal its saved ``.hydra/config.yaml`` but for :data:`IGNORED_KEYS` (where and how fast it runs); a job
whose config changed is refused, never overwritten.

When the command that runs a sweep gets Ctrl-C (or SIGTERM), it asks the jobs running in other processes to stop
through a file in the sweep folder (:data:`STOP_FILE`, holding the signal's name): their training loops look for it
(nnml/engine/loop.py), and a job that starts after it was written does not begin.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

from nnml.config.resume import SEGMENT_KEYS
from nnml.config.runfolder import RunFolder

NEW, DONE, INTERRUPTED, FAILED = "new", "done", "interrupted", "failed"
STOPPED = "stopped by "  # how error.txt of a job stopped by a signal begins (nnml/cli/entry.py writes it)
STOP_FILE = ".nnml.stop"
IGNORED_KEYS = ("resume", "allowed_targets", *SEGMENT_KEYS)  # say where and how a job runs, not what it learns
STARTUP = {".hydra", ".nnml.lock"}  # what a job's folder holds before its training wrote anything (and its logs)


# ---- state of a job's folder ----------------------------------------------------------------------------------------

def job_state(run: RunFolder) -> str:
    if not run.path.is_dir() or only_startup_files(run):
        return NEW
    metrics, error = run.metrics(), run.error()
    if metrics is not None and error is None:
        return DONE
    if metrics is None and (run.checkpoints / "last.pt").is_file() and (error is None or error.startswith(STOPPED)):
        return INTERRUPTED
    return FAILED


def _resolved(doc: dict) -> dict:
    """A saved config's plain interpolations (``T_max: ${trainer.max_epochs}``) resolved; as it is otherwise."""
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(OmegaConf.create(doc), resolve=True)
    except Exception:
        return doc


def changed_keys(run: RunFolder, composed) -> list[tuple[str, object, object]]:
    """``(key, saved value, value now)`` for every key in which the config composed now (a DictConfig or plain
    data) differs from the job's saved config, but for :data:`IGNORED_KEYS`."""
    from omegaconf import DictConfig, OmegaConf

    now = OmegaConf.to_container(composed, resolve=True) if isinstance(composed, DictConfig) else composed
    from nnml.sweep.runs import flatten

    saved, now = flatten(_resolved(run.raw_config()), as_text=False), flatten(now, as_text=False)
    out = []
    for key in dict.fromkeys([*saved, *now]):
        if any(key == k or key.startswith(k + ".") for k in IGNORED_KEYS):
            continue
        a, b = saved.get(key, "(absent)"), now.get(key, "(absent)")
        if json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str):
            out.append((key, a, b))
    return out


def changed_message(run: RunFolder, sweep_key: str, changes) -> str:
    """One line: a job of the sweep folder was trained with another config than the one composed now."""
    shown = ", ".join(f"{k}={_text(b)} (trained with {_text(a)})" for k, a, b in changes[:3])
    more = f" and {len(changes) - 3} more keys" if len(changes) > 3 else ""
    return (f"{sweep_key}={run.path.parent}: job {run.path.name} was trained with another config than this command "
            f"gives: {shown}{more}; a finished or interrupted job is continued only with its own config. Repeat the "
            f"sweep's command (nnml train -m --continue {run.path.parent}) or choose a new {sweep_key}")


def _text(v) -> str:
    return json.dumps(v, default=str) if isinstance(v, (list, dict)) else str(v)


def set_aside(run: RunFolder, logs=("train.log",)) -> Path | None:
    """Move a failed attempt's files into ``JOB/.failed-N/`` (the next free N) so the job starts clean; the log
    (which the new attempt appends to) and the lock stay. Returns that folder, or None when there was nothing."""
    entries = [p for p in run.path.iterdir() if p.name not in (*logs, *STARTUP) and not p.name.startswith(".failed-")]
    if not entries:
        return None
    n = 1
    while (run.path / f".failed-{n}").exists():
        n += 1
    target = run.path / f".failed-{n}"
    target.mkdir()
    for p in [*entries, run.hydra_dir]:
        if p.exists():
            shutil.move(str(p), str(target / p.name))
    return target


def only_startup_files(run: RunFolder) -> bool:
    """True when the folder holds nothing a job wrote: what Hydra made before calling it (``.hydra/``, its log)."""
    if not run.path.is_dir():
        return False
    for p in run.path.iterdir():
        if p.name in STARTUP:
            continue
        if p.suffix == ".log" and p.is_file() and p.stat().st_size == 0:
            continue
        return False
    return True


# ---- stopping a sweep whose jobs run in other processes -------------------------------------------------------------

def request_stop(sweep_dir, signum: int) -> None:
    """Ask every job of the sweep to stop (written from a signal handler: one small write, no locks)."""
    try:
        (Path(sweep_dir) / STOP_FILE).write_text(signal.Signals(signum).name + "\n")
    except OSError:
        pass


def stop_requested(sweep_dir) -> int:
    """The signal number the sweep was asked to stop by, or 0."""
    try:
        name = (Path(sweep_dir) / STOP_FILE).read_text().strip()
    except OSError:
        return 0
    try:
        return int(signal.Signals[name])
    except KeyError:
        return int(signal.SIGTERM)


def clear_stop(sweep_dir) -> None:
    (Path(sweep_dir) / STOP_FILE).unlink(missing_ok=True)


# ---- the jobs of a sweep, before Hydra runs it ----------------------------------------------------------------------

def expand(params: dict, overrides: list[str]) -> list[list[str]]:
    """Every job's overrides, as Hydra's basic sweeper expands them: the preset's sweeper ``params`` first, then the
    command line's overrides (Hydra's own ``hydra.*`` and ``hydra/...`` left out), the grid of every swept value.
    Raises for a sweep only another sweeper can expand (intervals, tags)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    task = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    args = [f"{k}={v}" for k, v in params.items()] + task
    parsed = OverridesParser.create().parse_overrides(args)
    (batch,) = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for job in batch]


def folder_name(job: list[str], varies: dict, exclude_keys=(), item_sep: str = ",", kv_sep: str = "=") -> str:
    """The folder Hydra gives a job (``hydra.sweep.subdir`` of configs/train.yaml): its override_dirname, named by
    what the sweep varies."""
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from nnml.config.resolvers import safe_name

    parsed = OverridesParser.create().parse_overrides(list(job))
    dirname = get_overrides_dirname(overrides=parsed, exclude_keys=list(exclude_keys), item_sep=item_sep,
                                    kv_sep=kv_sep)
    return safe_name(dirname, varies)


def merged_varies(old: dict, new: dict) -> dict:
    """What a continued sweep varies: the earlier run's values as typed, with this command's added."""
    out = {k: dict(v or {}) for k, v in (old or {}).items()}
    for k, v in (new or {}).items():
        out.setdefault(k, {}).update(v or {})
    return out
