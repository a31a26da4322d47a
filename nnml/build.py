"""From config to objects: the one place that turns the composed config into data, model, loss, optimizer,
scheduler, batch sources and loggers, passing in the sizes the data decides.

Everything goes through :func:`nnml.config.build.instantiate` (allowed targets checked). ``train``, ``eval``,
``tune`` and the benchmark build through here; the data, model and engine packages never read configs themselves.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from nnml.config.build import instantiate
from nnml.config.validate import check_monitor
from nnml.data.base import LOADER_KEYS, DataSplits
from nnml.data.batches import make_batches
from nnml.engine.losses import make_criterion
from nnml.engine.metrics import metric_names, monitor_default
from nnml.errors import NnmlError


def build_data(cfg_dataset, seed: int, allowed=()) -> DataSplits:
    """The dataset builder named by ``dataset._target_``, called with everything but the loader keys."""
    params = {k: v for k, v in cfg_dataset.items() if k not in LOADER_KEYS}
    return instantiate(params, key="dataset", allowed=allowed, seed=seed)


def build_model(cfg_model, data: DataSplits, allowed=()) -> torch.nn.Module:
    return instantiate(cfg_model, key="model", allowed=allowed, input_shape=tuple(data.input_shape),
                       num_outputs=data.num_outputs)


def build_criterion(cfg_loss, data: DataSplits, loss_name: str = "", allowed=()):
    return make_criterion(instantiate(cfg_loss, key="loss", allowed=allowed), data.task, data.num_outputs, loss_name)


def build_optimizer(cfg_optimizer, model: torch.nn.Module, allowed=()) -> torch.optim.Optimizer:
    """Optimizer configs are partial (``_partial_: true``): the parameters are the model's, known only now."""
    optimizer = instantiate(cfg_optimizer, key="optimizer", allowed=allowed)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    return optimizer(model.parameters())


def train_batches(data: DataSplits, cfg_dataset, seed: int, device):
    return make_batches(*data.split("train"), batch_size=int(cfg_dataset.batch_size), shuffle=True, seed=seed,
                        device=device, loader=cfg_dataset.get("loader", "auto"),
                        num_workers=cfg_dataset.get("num_workers", 2))


def eval_batches(data: DataSplits, split: str, cfg_dataset, device):
    """Evaluation needs no gradients, so it takes larger batches (``eval_batch_size``, default max(batch, 1024))."""
    x, y = data.split(split)
    bs = cfg_dataset.get("eval_batch_size") or max(int(cfg_dataset.batch_size), 1024)
    return make_batches(x, y, batch_size=bs, shuffle=False, seed=0, device=device,
                        loader=cfg_dataset.get("loader", "auto"), num_workers=cfg_dataset.get("num_workers", 2))


def resolve_monitor(cfg_trainer, task: str) -> tuple[str, str]:
    """(metric, mode) that picks the best epoch: ``auto`` follows the task; an explicit metric must exist."""
    monitor, mode = str(cfg_trainer.get("monitor", "auto")), str(cfg_trainer.get("mode", "auto"))
    default_monitor, default_mode = monitor_default(task)
    if monitor == "auto":
        monitor, mode = default_monitor, default_mode if mode == "auto" else mode
    elif mode == "auto":
        mode = "max" if monitor.split("/")[-1] in ("acc", "f1", "r2") else "min"
    check_monitor(monitor, [f"{s}/{n}" for s in ("val", "train") for n in metric_names(task)])
    return monitor, mode


def build_scheduler(cfg, optimizer, *, steps_per_epoch: int, max_epochs: int, monitor_mode: str = "min",
                    allowed=()):
    """(scheduler or None, interval). A scheduler config holds the torch class's ``_target_`` and arguments plus
    ``interval`` (``epoch`` or ``step``: when ``scheduler.step()`` is called); ``steps_per_epoch``, ``epochs`` and
    ``total_steps`` are filled in when the class takes them and the config leaves them out (OneCycleLR);
    ``mode: auto`` (ReduceLROnPlateau) follows the monitored metric's mode."""
    from hydra.utils import get_method

    if cfg is None or "_target_" not in cfg:
        return None, "epoch"
    params = OmegaConf.to_container(cfg, resolve=True)
    interval = params.pop("interval", "epoch")
    if interval not in ("epoch", "step"):
        raise NnmlError(f"scheduler.interval={interval} is not valid; choose one of: epoch, step")
    target = get_method(params["_target_"]) if not inspect.isclass(params["_target_"]) else params["_target_"]
    sig = inspect.signature(target)
    sizes = {"steps_per_epoch": steps_per_epoch, "epochs": max_epochs,
             "total_steps": steps_per_epoch * max_epochs if interval == "step" else max_epochs}
    extra = {k: v for k, v in sizes.items() if k in sig.parameters and params.get(k) is None}
    if "total_steps" in extra and "epochs" in sig.parameters:
        extra.pop("total_steps")  # OneCycleLR: epochs x steps_per_epoch or total_steps, not both
    params = {k: v for k, v in params.items() if v is not None or k not in sizes}
    params.pop("_partial_", None)
    if params.get("mode") == "auto":
        params["mode"] = monitor_mode
    return instantiate(params, key="scheduler", allowed=allowed, optimizer=optimizer, **extra), interval


def build_loggers(cfg_logger, run_dir: Path, allowed=()) -> list:
    """The logger group maps a name to a logger config (``tensorboard``, ``csv``); ``logger=none`` is empty."""
    if not cfg_logger:
        return []
    return [instantiate(node, key=f"logger.{name}", allowed=allowed, run_dir=str(run_dir))
            for name, node in cfg_logger.items()
            if isinstance(node, DictConfig) and "_target_" in node]
