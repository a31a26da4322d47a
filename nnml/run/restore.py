"""A finished run rebuilt from its folder: its config read back as data (:class:`~nnml.config.runfolder.RunFolder`,
the trust rule), its data and task rebuilt, a checkpoint loaded. What ``nnml eval``, ``predict``, ``summary``,
``accelerate``, ``sample`` and ``recommend`` start from. On the same split and checkpoint the numbers equal the
``test/*`` metrics that training wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nnml.config.runfolder import RunFolder
from nnml.errors import NnmlError


@dataclass
class RestoredRun:
    """A finished run rebuilt from its folder: its config, data, task (modules loaded from a checkpoint, in eval
    mode, on ``device``), a trainer that evaluates it and the builder the task was set up with (its batch sources:
    ``task.batches(split, builder)``; :func:`nnml.run.finetune.finetune_module` trains through them)."""

    folder: RunFolder
    cfg: object
    data: object
    task: object
    device: object
    trainer: object
    checkpoint: Path
    builder: object = None

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    def evaluate(self, split: str, module=None) -> dict:
        """The task's metrics of ``split``; ``module`` replaces the primary module for this evaluation (a
        quantized, pruned or exported variant)."""
        replace = None if module is None else {self.task.primary: module}
        return self.trainer.evaluate(split, replace=replace)


def restore_run(run_dir, checkpoint: str = "best", overrides: list[str] = (), device: str | None = None,
                load_weights: bool = True, allow=()) -> RestoredRun:
    """Rebuild ``run_dir``'s data and task from its saved config and load ``checkpoint`` (``best``, ``last``, a file
    of its checkpoints/ folder or a path). ``overrides`` (``trainer.device=cpu``) change the config read back;
    ``allow``: module prefixes of the user's own code that this command names (the folder's own list is not
    trusted)."""
    from nnml.config.overrides import apply_key_overrides

    folder = RunFolder(run_dir).require()
    cfg, trust = folder.load_config(allow=allow, overrides=overrides, apply_overrides=apply_key_overrides)
    path = folder.checkpoint(checkpoint)

    from nnml.config.validate import validate
    from nnml.engine.checkpoint import load_checkpoint
    from nnml.engine.device import autocast_context, configure_threads, resolve_device
    from nnml.engine.loop import LoopConfig, Trainer, load_task_modules
    from nnml.run.build import Builder, build_data, build_task, data_seed, resolve_monitor

    validate(cfg)
    configure_threads(cfg.trainer.get("num_threads"))
    dev = resolve_device(device or cfg.trainer.device)
    ckpt = load_checkpoint(path) if load_weights else None
    data = build_data(cfg.dataset, seed=data_seed(cfg), trust=trust)
    task = build_task(cfg, data, trust)
    monitor, mode = resolve_monitor(cfg.trainer, task)
    builder = Builder(cfg, data, dev, seed=int(cfg.seed), trust=trust, run_dir=folder.path, monitor_mode=mode,
                      choices=folder.choices(), evaluating=True)
    task.setup(builder)
    if ckpt is not None:
        load_task_modules(task, ckpt, path)
        task.load_state_dict(ckpt.get("task") or {})
    for m in task.modules.values():
        m.to(dev).eval()
    sources = {s: (lambda s=s: task.batches(s, builder)) for s in ("train", "val", "test")}
    trainer = Trainer(task, _NoBatches(), sources, LoopConfig(monitor=monitor, mode=mode), device=dev,
                      autocast=autocast_context(dev, str(cfg.trainer.precision)), run_dir=folder.path)
    return RestoredRun(folder, cfg, data, task, dev, trainer, path, builder)


class _NoBatches:
    """The training source of a restored run: it is evaluated, never trained."""

    num_samples = 0

    def batches_per_epoch(self, world: int = 1) -> int:
        return 0

    def epoch(self, epoch: int, start_batch: int = 0, shard=(0, 1)):
        return iter(())


def check_split(split: str) -> None:
    if split not in ("test", "val", "train"):
        raise NnmlError(f"--split {split} is not valid; choose one of: test, train, val")


def evaluate_run(run_dir, checkpoint: str = "best", split: str = "test", overrides: list[str] = (),
                 allow=()) -> tuple[dict, RunFolder]:
    """(``split/metric -> value`` of a run's checkpoint, its folder) for ``nnml eval`` (an accelerated variant is
    evaluated by ``nnml.accelerate.artifacts.evaluate_variant`` instead, which the CLI chooses)."""
    check_split(split)
    restored = restore_run(run_dir, checkpoint, overrides, allow=allow)
    return {f"{split}/{k}": v for k, v in restored.evaluate(split).items()}, restored.folder
