"""``nnml eval``: rebuild a finished run's data and task from its saved config, load a checkpoint, evaluate a split
(:func:`restore_run` is the same rebuild for every command that reads a run).

The config comes from disk, so its targets are checked against the allowed prefixes before anything is built.
On the same split and checkpoint the numbers equal the ``test/*`` metrics that training wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nnml.errors import NnmlError


def load_run_config(run_dir: Path, overrides: list[str] = ()):
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    run_dir = Path(run_dir)
    path = run_dir / ".hydra" / "config.yaml"
    if not run_dir.is_dir():
        raise NnmlError(f"run folder {run_dir} does not exist")
    if not path.is_file():
        raise NnmlError(f"{run_dir} is not an nnml run folder (no .hydra/config.yaml); give a folder under "
                        f"outputs/<task>/runs/ or a sweep job's folder")
    from nnml.cli.checks.precheck import apply_key_overrides

    try:
        cfg = apply_key_overrides(OmegaConf.load(path), list(overrides), f"the config of {run_dir}")
    except OmegaConfBaseException as e:
        raise NnmlError(f"{path}: {str(e).splitlines()[0]}") from None
    return cfg


def checkpoint_path(run_dir: Path, checkpoint: str) -> Path:
    """``best``, ``last``, a file of the run's checkpoints/ folder (``epoch-0007.pt``, kept by trainer.save_top_k
    or keep_every_n_epochs) or a path. A run with no validation split keeps no best.pt: its final weights (last.pt)
    are what it tested, so ``best`` means last.pt there."""
    folder = Path(run_dir) / "checkpoints"
    if checkpoint in ("best", "last"):
        path = folder / f"{checkpoint}.pt"
        last = path.with_name("last.pt")
        if checkpoint == "best" and not path.is_file() and last.is_file() and _tested_last(run_dir):
            return last
        return path
    given = Path(checkpoint)
    if not given.exists() and given.parent == Path(".") and (folder / given.name).is_file():
        return folder / given.name
    if not given.exists():
        kept = sorted(p.name for p in folder.glob("*.pt") if p.stem not in ("best", "last")) if folder.is_dir() else []
        raise NnmlError(f"--checkpoint {checkpoint}: no such file; choose best, last"
                        f"{', ' + ', '.join(kept) if kept else ''} (the files in {folder}) or a path")
    return given


def _tested_last(run_dir: Path) -> bool:
    try:
        m = json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return m.get("best_epoch") == m.get("epochs")


@dataclass
class RestoredRun:
    """A finished run rebuilt from its folder: its config, data, task (modules loaded from a checkpoint, in eval
    mode, on ``device``) and a trainer that evaluates it. What ``nnml eval``, ``nnml predict`` and the other
    commands that read a run (accelerate, sample, recommend) start from."""

    run_dir: Path
    cfg: object
    data: object
    task: object
    device: object
    trainer: object
    checkpoint: Path

    def evaluate(self, split: str, module=None) -> dict:
        """The task's metrics of ``split``; ``module`` replaces the primary module for this evaluation (a
        quantized, pruned or exported variant)."""
        if module is None:
            return self.trainer.evaluate(split)
        t, name = self.trainer, self.task.primary
        saved = (self.task.modules[name], t._eval_forward.get(name), t._train_forward.get(name))
        self.task.modules[name] = t._eval_forward[name] = t._train_forward[name] = module
        try:
            return t.evaluate(split)
        finally:
            self.task.modules[name], t._eval_forward[name], t._train_forward[name] = saved


def restore_run(run_dir: Path, checkpoint: str = "best", overrides: list[str] = (), device: str | None = None,
                load_weights: bool = True) -> RestoredRun:
    """Rebuild ``run_dir``'s data and task from its saved config (targets checked first: it is data from disk) and
    load ``checkpoint`` (``best``, ``last`` or a path) into the task's modules."""
    from nnml.config.targets import check_targets

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir, overrides)
    allowed = list(cfg.get("allowed_targets") or [])
    check_targets(cfg, allowed)
    path = checkpoint_path(run_dir, checkpoint)

    from nnml.config.validate import validate
    from nnml.engine.checkpoint import load_checkpoint
    from nnml.engine.device import autocast_context, configure_threads, resolve_device
    from nnml.engine.loop import LoopConfig, Trainer, load_task_modules
    from nnml.run.build import Builder, build_data, build_task, resolve_monitor

    validate(cfg)
    configure_threads(cfg.trainer.get("num_threads"))
    dev = resolve_device(device or cfg.trainer.device)
    ckpt = load_checkpoint(path) if load_weights else None
    data = build_data(cfg.dataset, seed=int(cfg.seed), allowed=allowed)
    task = build_task(cfg, data, allowed)
    monitor, mode = resolve_monitor(cfg.trainer, task)
    builder = Builder(cfg, data, dev, seed=int(cfg.seed), allowed=allowed, run_dir=run_dir, monitor_mode=mode)
    builder.choices = _saved_choices(run_dir)
    builder.evaluating = True
    task.setup(builder)
    if ckpt is not None:
        load_task_modules(task, ckpt, path)
        task.load_state_dict(ckpt.get("task") or {})
    for m in task.modules.values():
        m.to(dev).eval()
    sources = {s: (lambda s=s: task.batches(s, builder)) for s in ("train", "val", "test")}
    trainer = Trainer(task, _NoBatches(), sources, LoopConfig(monitor=monitor, mode=mode), device=dev,
                      autocast=autocast_context(dev, str(cfg.trainer.precision)), run_dir=run_dir)
    return RestoredRun(run_dir, cfg, data, task, dev, trainer, path)


class _NoBatches:
    """The training source of a restored run: it is evaluated, never trained."""

    num_samples = 0

    def batches_per_epoch(self, world: int = 1) -> int:
        return 0

    def epoch(self, epoch: int, start_batch: int = 0, shard=(0, 1)):
        return iter(())


def _saved_choices(run_dir: Path) -> dict:
    """group -> option as the run was started (``.hydra/hydra.yaml``), for messages and task set-up."""
    path = Path(run_dir) / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    try:
        choices = OmegaConf.to_container(OmegaConf.load(path)).get("hydra", {}).get("runtime", {}).get("choices", {})
    except Exception:
        return {}
    return {k: str(v) for k, v in (choices or {}).items() if not str(k).startswith("hydra/") and v is not None}


def check_split(split: str) -> None:
    if split not in ("test", "val", "train"):
        raise NnmlError(f"--split {split} is not valid; choose one of: test, train, val")


def evaluate_run(run_dir: Path, checkpoint: str = "best", split: str = "test", overrides: list[str] = ()) -> dict:
    """``split/metric -> value`` of a run's checkpoint (``nnml eval``; an accelerated variant is evaluated by
    ``nnml.accelerate.artifacts.evaluate_variant`` instead, which the CLI chooses)."""
    check_split(split)
    restored = restore_run(run_dir, checkpoint, overrides)
    return {f"{split}/{k}": v for k, v in restored.evaluate(split).items()}


def print_eval(metrics: dict, run_dir, split: str, checkpoint: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
        return
    from rich.markup import escape

    from nnml.tracking.console import make_console, summary_table

    console = make_console()
    # the run's path on a line of its own: as a table title it would be broken wherever the table's width ends
    console.print(escape(f"{run_dir} ({checkpoint} checkpoint, {split} split)"), soft_wrap=True, highlight=False)
    console.print(summary_table(metrics, title=None))
