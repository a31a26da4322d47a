"""Where a resumed run continues from, and with which config: ``resume=`` names a run folder or a checkpoint file.
Free of torch, so the CLI can refuse a bad ``resume=`` before a run starts.

Only ``checkpoints/last.pt`` (or the file named) is a checkpoint: a ``.last.pt.*.tmp`` file is what an atomic write
left behind when it was interrupted, never a finished checkpoint, and it is not read.
"""

from __future__ import annotations

from pathlib import Path

from nnml.errors import NnmlError


def run_dir_of(resume) -> Path:
    """The run folder of ``resume``: the folder itself, or the run that holds ``<run>/checkpoints/<file>.pt``."""
    p = Path(str(resume)).expanduser()
    if not p.exists():
        raise NnmlError(f"resume={resume}: no such run folder or checkpoint file; give a folder under "
                        f"outputs/<task>/runs/ or its checkpoints/last.pt")
    run_dir = p if p.is_dir() else p.parent.parent
    if not (run_dir / ".hydra" / "config.yaml").is_file():
        raise NnmlError(f"resume={resume}: {run_dir} is not an nnml run folder (no .hydra/config.yaml)")
    return run_dir


def resolve_resume(resume, run_dir=None) -> tuple[Path | None, Path | None]:
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


def saved_group_choices(run_dir: Path) -> list[str]:
    """The ``group=option`` overrides the run was started with: a resumed run composes with them, so that keys of
    its own options (``dataset.noise`` of moons) can be overridden, and keeps them."""
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    from nnml.config.catalog import groups, option_files

    gs = groups()
    out = []
    for o in OmegaConf.load(path):
        key, _, value = str(o).partition("=")
        group = key.lstrip("+~")
        # An option from the user's own -cd folder is not composable here; the run's saved config holds it anyway.
        if group in gs and (value in option_files(group) or not value or "," in value):
            out.append(str(o))
    return out


def resumed_config(cfg, overrides: list[str]):
    """The config a resumed run continues with: the one saved in its folder, plus the plain ``key=value``
    overrides given now (``trainer.max_epochs=50`` extends a run). Changing a group would train something else."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    run_dir = run_dir_of(cfg.resume)
    base = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    kept = set(saved_group_choices(run_dir))  # the CLI repeats the run's own choices
    parsed = OverridesParser.create().parse_overrides(overrides)
    for ov in parsed:
        key = ov.get_key_element()
        if key in ("resume",) or key.startswith("hydra") or ov.input_line in kept:
            continue
        if "." not in key and key in base and OmegaConf.is_dict(base[key]):
            raise NnmlError(f"{key}={ov.value()}: a resumed run keeps its groups; override keys only "
                            f"(e.g. trainer.max_epochs=50), or start a new run")
        if key == "seed" or key.startswith(("optimizer.", "scheduler.")):
            # These would be silently undone: the checkpoint restores optimizer/scheduler state (learning rate
            # included), and the seed fixes the data split the run was trained and validated on.
            raise NnmlError(f"{key}={ov.value()}: a resumed run continues with the {key.split('.')[0]} state it saved; "
                            f"start a new run to change it")
        OmegaConf.update(base, key, ov.value(), merge=True, force_add=ov.is_add())
    base.resume = str(cfg.resume)
    return base


# Keys that say where or how fast one segment runs, not what the run learns: given to one resume, they apply to that
# resume only and are not recorded in the run's config (the next resume would inherit them unasked).
SEGMENT_KEYS = ("trainer.device", "trainer.num_threads", "trainer.compile", "trainer.detect_anomaly")


def record_resumed_config(run_dir: Path, cfg) -> None:
    """Keep the run folder's ``.hydra/config.yaml`` true to what the run now trains (``trainer.max_epochs=50``
    extending it, say); the config it was started with stays beside it as ``config.original.yaml``. The
    :data:`SEGMENT_KEYS` keep their recorded values (each segment's own overrides are in metrics.json's segments)."""
    import shutil

    from omegaconf import OmegaConf

    from nnml.files import atomic_write_text

    current = Path(run_dir) / ".hydra" / "config.yaml"
    if not current.is_file():
        return
    saved = OmegaConf.load(current)
    recorded = cfg.copy()
    for key in SEGMENT_KEYS:
        if OmegaConf.select(saved, key, default=None) is not None or OmegaConf.select(recorded, key) is not None:
            OmegaConf.update(recorded, key, OmegaConf.select(saved, key, default=None), force_add=True)
    text = OmegaConf.to_yaml(recorded)
    if current.read_text() == text:
        return
    original = current.with_name("config.original.yaml")
    if not original.exists():
        shutil.copy2(current, original)
    atomic_write_text(current, text)
