"""Continuing a run (``nnml train resume=RUN``): which checkpoint, and with which config.

A resumed run continues what it learned: its saved config is read back through :class:`RunFolder` (the trust rule),
and an override may change only where and how fast it trains, or extend it. The rule comes from the config groups:

- every group that decides what is learned (``dataset``, ``model``, ``loss``, ``optimizer``, ``scheduler``,
  ``task``, and any other group but ``trainer`` and ``logger``) and the seeds are refused on resume, whatever the key
  (a split fraction, an activation, a task key); the optimizer and scheduler continue from their saved state;
- the dataset's loader keys (:data:`nnml.data.base.LOADER_KEYS`) say how batches are served and stay allowed,
  except ``batch_size``, which changes the optimization;
- ``trainer`` and ``logger`` keys stay allowed (device, threads, logging, checkpoints, ``max_epochs`` to extend,
  ``patience``), except the trainer keys the schema marks as changing the result
  (:data:`nnml.config.validate.RESULT_KEYS`: precision, clipping, the monitored metric, ...).

Only ``checkpoints/last.pt`` (or the file named) is a checkpoint: a ``.last.pt.*.tmp`` file is what an interrupted
atomic write left behind, never a finished checkpoint, and it is not read.
"""

from __future__ import annotations

from pathlib import Path

from nnml.config.runfolder import RunFolder
from nnml.errors import NnmlError

KEPT_GROUPS = ("trainer", "logger")  # where and how a run trains and logs; every other group is what it learns
KEPT_TOP = ("resume", "task_name", "allowed_targets")  # top-level keys that say nothing about what is learned

# Keys that say where or how fast one segment runs: given to one resume, they apply to that resume only and are not
# recorded in the run's config (the next resume would inherit them unasked).
SEGMENT_KEYS = ("trainer.device", "trainer.num_threads", "trainer.compile", "trainer.detect_anomaly")


def run_folder_of(resume) -> RunFolder:
    """The run folder of ``resume``: the folder itself, or the run that holds ``<run>/checkpoints/<file>.pt``."""
    p = Path(str(resume)).expanduser()
    if not p.exists():
        raise NnmlError(f"resume={resume}: no such run folder or checkpoint file; give a folder under "
                        f"outputs/<task>/runs/ or its checkpoints/last.pt")
    run = RunFolder(p if p.is_dir() else p.parent.parent, role="resume")
    if not run.is_run():
        raise NnmlError(f"resume={resume}: {run.path} is not an nnml run folder (no .hydra/config.yaml)")
    return run


def resolve_resume(resume) -> tuple[Path | None, Path | None]:
    """(last checkpoint, best checkpoint or None) to continue from; (None, None) when not resuming."""
    if not resume:
        return None, None
    p = Path(str(resume)).expanduser()
    if p.is_dir():
        p = p / "checkpoints" / "last.pt"
    if not p.is_file():
        torn = sorted(p.parent.glob(f".{p.name}.*.tmp")) if p.parent.is_dir() else []
        why = (f" ({torn[0].name} is a temp file left by an interrupted write, not a checkpoint: the run was "
               f"stopped before its first checkpoint was complete; start it again)" if torn else "")
        raise NnmlError(f"resume={resume}: no checkpoint at {p}{why}; give a run folder that holds "
                        f"checkpoints/last.pt or a checkpoint file")
    best = p.parent / "best.pt"
    return p, best if best.is_file() and best != p else None


def saved_group_choices(run: RunFolder) -> list[str]:
    """The ``group=option`` overrides the run was started with: a resumed run composes with them, so that keys of
    its own options (``dataset.noise`` of moons) can be overridden, and keeps them."""
    from nnml.config.catalog import groups, option_files

    gs = groups()
    out = []
    for o in run.overrides():
        key, _, value = o.partition("=")
        group = key.lstrip("+~")
        # An option from the user's own -cd folder is not composable here; the run's saved config holds it anyway.
        if group in gs and (value in option_files(group) or not value or "," in value):
            out.append(o)
    return out


def refused_on_resume(key: str, groups: set[str]) -> str | None:
    """Why ``key`` may not change on resume (one clause), or None when it may."""
    from nnml.config.validate import RESULT_KEYS
    from nnml.data.base import LOADER_KEYS

    key = key.lstrip("+~")
    top, _, rest = key.partition(".")
    if top in ("seed", "data_seed"):
        return "the seeds fix the data split, the initial weights and the batch order the run was trained with"
    if top in KEPT_TOP or top == "hydra":
        return None
    if top in KEPT_GROUPS:
        return f"{key} changes what the run computes" if key in RESULT_KEYS else None
    if top == "dataset" and rest in LOADER_KEYS and rest != "batch_size":
        return None
    if top in ("optimizer", "scheduler"):
        return f"the {top} continues from the state the run saved"
    if top in groups or not rest:
        return f"{top} is part of what the run learns"
    return None


def resumed_config(cfg, overrides: list[str], allow=()):
    """(config, trust) a resumed run continues with: the one saved in its folder (read as data), plus the allowed
    ``key=value`` overrides given now (``trainer.max_epochs=50`` extends a run); anything that would change what the
    run learns is refused in one line naming the key."""
    from nnml.config.catalog import groups
    from nnml.config.overrides import apply_key_overrides, parse_overrides

    run = run_folder_of(cfg.resume)
    kept = set(saved_group_choices(run))  # the CLI repeats the run's own choices
    gs = set(groups())
    given = []
    for text, ov in zip(overrides, parse_overrides(list(overrides))):
        key = ov.key_or_group.lstrip("+~")
        if key in ("resume", "allowed_targets") or key.startswith("hydra") or text in kept:
            continue
        why = refused_on_resume(key, gs)
        if why:
            raise NnmlError(f"{key}={ov.value()}: a resumed run keeps what it learns ({why}); override where and "
                            f"how it trains (trainer.device, trainer.num_threads, trainer.max_epochs=N to extend it, "
                            f"logging), or start a new run")
        given.append(text)
    saved_epochs = (run.raw_config().get("trainer") or {}).get("max_epochs")
    base, trust = run.load_config(allow=allow, overrides=given, apply_overrides=apply_key_overrides)
    _refuse_fixed_schedule(base, saved_epochs)
    base.resume = str(cfg.resume)
    return base, trust, run


def _refuse_fixed_schedule(cfg, saved_epochs) -> None:
    """OneCycleLR fixes its number of steps when it is built: a run trained with it cannot be extended (PyTorch
    would stop at the first step past the end with "Tried to step ... times")."""
    target = str((cfg.get("scheduler") or {}).get("_target_", ""))
    epochs = cfg.trainer.get("max_epochs")
    if target.endswith("OneCycleLR") and saved_epochs is not None and epochs != saved_epochs:
        raise NnmlError(f"trainer.max_epochs={epochs}: this run's one-cycle schedule (scheduler=onecycle) was laid "
                        f"out for {saved_epochs} epochs when it started and cannot be extended; start a new run "
                        f"with trainer.max_epochs={epochs}")


def record_resumed_config(run: RunFolder, cfg) -> None:
    """Keep the run folder's ``.hydra/config.yaml`` true to what the run now trains (``trainer.max_epochs=50``
    extending it, say); the config it was started with stays beside it as ``config.original.yaml``. The
    :data:`SEGMENT_KEYS` keep their recorded values (each segment's own overrides are in metrics.json's segments).
    Called once the resume has started: a refused resume writes nothing."""
    import shutil

    from omegaconf import OmegaConf

    from nnml.files import atomic_write_text

    current = run.config_file
    if not current.is_file():
        return
    saved = OmegaConf.create(run.raw_config())
    recorded = cfg.copy()
    for key in SEGMENT_KEYS:
        if OmegaConf.select(saved, key, default=None) is not None or OmegaConf.select(recorded, key) is not None:
            OmegaConf.update(recorded, key, OmegaConf.select(saved, key, default=None), force_add=True)
    recorded.allowed_targets = list(saved.get("allowed_targets") or [])  # the run's own record, not this command's
    text = OmegaConf.to_yaml(recorded)
    if current.read_text() == text:
        return
    original = run.original_config_file
    if not original.exists():
        shutil.copy2(current, original)
    atomic_write_text(current, text)
