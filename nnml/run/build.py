"""From config to objects: the one place that turns the composed config into data, a task with its modules and
optimizer slots, schedulers, batch sources and loggers, passing in the sizes the data decides.

Everything goes through :func:`nnml.config.targets.instantiate` under a :class:`~nnml.config.targets.Trust` that
the caller chose: a new run's own config, or a config read back from a run folder. ``train``, ``eval``, ``tune``
and the benchmark build through here; the data, model, task and engine packages never read configs themselves: a
task's ``setup`` receives a :class:`Builder` and asks it for models, losses and optimizers.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from nnml.config.seeds import data_seed  # noqa: F401  (re-exported for the run's callers)
from nnml.config.targets import Trust, instantiate
from nnml.data.base import LOADER_KEYS, DataSplits
from nnml.data.batches import make_batches
from nnml.engine import metrics as M
from nnml.engine.losses import make_criterion
from nnml.errors import NnmlError

_DEFAULT = object()  # "the config's own node" for Builder.optimizer's scheduler and grad_clip


def build_data(cfg_dataset, seed: int, trust: Trust) -> DataSplits:
    """The dataset builder named by ``dataset._target_``, called with everything but the loader keys; a builder
    that names a loader key as a parameter gets it too (an image folder reads its files once into memory or per
    batch by ``dataset.loader``)."""
    named = _parameters(cfg_dataset, trust)
    params = {k: v for k, v in cfg_dataset.items() if k not in LOADER_KEYS or k in named}
    return instantiate(params, key="dataset", trust=trust, seed=seed)


def _parameters(node, trust: Trust) -> set[str]:
    """Parameter names of the ``_target_`` of ``node`` (empty when it cannot be imported: instantiate says why)."""
    from nnml.config.targets import import_object

    target = node.get("_target_") if hasattr(node, "get") else None
    if not target:
        return set()
    trust.check(node)
    try:
        return set(inspect.signature(import_object(str(target), trust)).parameters)
    except Exception:
        return set()


def build_model(cfg_model, data: DataSplits, trust: Trust, key: str = "model", **extra) -> torch.nn.Module:
    """Instantiate a model config, passing the data's facts (``input_shape``, ``num_outputs`` and every
    ``data.meta`` key) that its constructor names, plus ``extra``. A constructor with none of them works too. A model
    that reads another run's folder (``model=pretrained``) may name ``allow``: the prefixes trusted on this command
    line."""
    facts = {**data.facts(), "allow": list(trust.prefixes), **extra}
    return instantiate(cfg_model, key=key, trust=trust, **accepted_kwargs(cfg_model, facts, trust))


def accepted_kwargs(node, facts: dict, trust: Trust) -> dict:
    """The entries of ``facts`` that the ``_target_`` of ``node`` takes by name (all of them if it takes
    ``**kwargs``), leaving out keys the config sets itself."""
    from nnml.config.targets import import_object

    target = node.get("_target_") if hasattr(node, "get") else None
    if not target:
        return {}
    trust.check(node)
    try:
        obj = import_object(str(target), trust)
    except Exception:
        return dict(facts)  # let instantiate report the bad target
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        names = set(facts)
    else:
        names = set(params)
    return {k: v for k, v in facts.items() if k in names and k not in node}


def build_criterion(cfg_loss, data: DataSplits, trust: Trust, loss_name: str = ""):
    return make_criterion(instantiate(cfg_loss, key="loss", trust=trust), data.task, data.num_outputs, loss_name)


def build_optimizer(cfg_optimizer, model: torch.nn.Module, trust: Trust) -> torch.optim.Optimizer:
    """Optimizer configs are partial (``_partial_: true``): the parameters are the model's, known only now."""
    optimizer = instantiate(cfg_optimizer, key="optimizer", trust=trust)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    return optimizer(model.parameters())


def tensor_batches(tensors, cfg_dataset, *, train: bool, seed: int, device, batch_size: int | None = None,
                   shuffle: bool | None = None):
    """A batch source over a tuple or dict of equal-length tensors: training batches of ``dataset.batch_size``,
    evaluation batches of ``eval_batch_size`` (default max(batch_size, 1024))."""
    if batch_size is None:
        batch_size = int(cfg_dataset.batch_size) if train else (
            cfg_dataset.get("eval_batch_size") or max(int(cfg_dataset.batch_size), 1024))
    return make_batches(tensors, batch_size=int(batch_size), shuffle=train if shuffle is None else shuffle,
                        seed=seed if train else 0, device=device, loader=cfg_dataset.get("loader", "auto"),
                        num_workers=cfg_dataset.get("num_workers", 2))


def train_batches(data: DataSplits, cfg_dataset, seed: int, device):
    return make_batches(data.split("train"), batch_size=int(cfg_dataset.batch_size), shuffle=True, seed=seed,
                        device=device, loader=cfg_dataset.get("loader", "auto"),
                        num_workers=cfg_dataset.get("num_workers", 2))


def eval_batches(data: DataSplits, split: str, cfg_dataset, device):
    """Evaluation needs no gradients, so it takes larger batches (``eval_batch_size``, default max(batch, 1024))."""
    bs = cfg_dataset.get("eval_batch_size") or max(int(cfg_dataset.batch_size), 1024)
    return make_batches(data.split(split), batch_size=bs, shuffle=False, seed=0, device=device,
                        loader=cfg_dataset.get("loader", "auto"), num_workers=cfg_dataset.get("num_workers", 2))


def resolve_monitor(cfg_trainer, task) -> tuple[str, str]:
    """(metric, mode) that picks the best epoch, for ``task`` (a :class:`~nnml.tasks.base.Task`, or the data's kind
    ``classification`` / ``regression`` for the supervised task): see :func:`nnml.engine.metrics.resolve_monitor`."""
    if isinstance(task, str):
        directions, default_monitor = M.directions(task), M.monitor_default(task)[0]
    else:
        directions, default_monitor = task.metric_directions(), task.default_monitor
    return M.resolve_monitor(cfg_trainer.get("monitor", "auto"), cfg_trainer.get("mode", "auto"), directions,
                             default_monitor, train_metrics=bool(cfg_trainer.get("train_metrics", True)))


def build_scheduler(cfg, optimizer, *, steps_per_epoch: int, max_epochs: int, trust: Trust,
                    monitor_mode: str = "min"):
    """(scheduler or None, interval). A scheduler config holds the torch class's ``_target_`` and arguments plus
    ``interval`` (``epoch`` or ``step``: when ``scheduler.step()`` is called); ``steps_per_epoch``, ``epochs`` and
    ``total_steps`` are filled in when the class takes them and the config leaves them out (OneCycleLR);
    ``mode: auto`` (ReduceLROnPlateau) follows the monitored metric's mode."""
    from nnml.config.targets import import_object

    if cfg is None or "_target_" not in cfg:
        return None, "epoch"
    params = OmegaConf.to_container(cfg, resolve=True)
    interval = params.pop("interval", "epoch")
    if interval not in ("epoch", "step"):
        raise NnmlError(f"scheduler.interval={interval} is not valid; choose one of: epoch, step")
    target = import_object(params["_target_"], trust) if not inspect.isclass(params["_target_"]) else params["_target_"]
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
    return instantiate(params, key="scheduler", trust=trust, optimizer=optimizer, **extra), interval


def build_task(cfg, data, trust: Trust):
    """The task of ``cfg.task`` (``auto`` when a config has none: run folders from before tasks existed), bound to
    the data it will learn from (its metrics may depend on the data's kind)."""
    node = cfg.get("task") if hasattr(cfg, "get") else None
    if node is None or "_target_" not in node:
        node = OmegaConf.create({"_target_": "nnml.tasks.supervised.task.SupervisedTask"})
    task = instantiate(node, key="task", trust=trust)
    from nnml.tasks.base import Task

    if not isinstance(task, Task):
        raise NnmlError(f"task._target_={node._target_} built a {type(task).__name__}, not a task; it must name a "
                        f"subclass of nnml.tasks.base.Task (docs/your_own_code.md)")
    task.data = data
    return task


def _node(node):
    """Config nodes may be given as plain dicts by a task's own code."""
    return OmegaConf.create(node) if isinstance(node, dict) else node


class Builder:
    """What a task's ``setup`` builds with: the config, the data, the device, and factories for models, losses,
    optimizer slots and batch sources. See :mod:`nnml.tasks.base`.

    ``evaluating``: a restored run (``nnml eval``, ``predict``, ``accelerate``): every split in order, evaluation
    batches, nothing written, and no training-only parts (a distillation teacher). ``choices``: group -> option as
    chosen, for messages."""

    def __init__(self, cfg, data, device, *, seed: int, trust: Trust, run_dir: Path | None = None,
                 steps_per_epoch: int = 1, monitor_mode: str = "min", choices: dict | None = None,
                 evaluating: bool = False):
        self.cfg = cfg
        self.data = data
        self.device = torch.device(device)
        self.seed = int(seed)
        self.trust = trust
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.steps_per_epoch = steps_per_epoch  # known once the train batches exist (train.py sets it)
        self.monitor_mode = monitor_mode
        self.choices: dict = dict(choices or {})
        self.evaluating = bool(evaluating)

    @property
    def precision(self) -> str:
        return str(self.cfg.trainer.get("precision", "32"))

    def model(self, node=None, key: str = "model", trust: Trust | None = None, **extra) -> torch.nn.Module:
        """A module from ``node`` (default ``cfg.model``) with the data's facts its constructor names, on the
        device (channels-last for image models on CUDA). ``trust``: another run's, for a config read from its
        folder (a distillation teacher)."""
        node = self.cfg.model if node is None else node
        module = build_model(node, self.data, trust or self.trust, key=key, **extra).to(self.device)
        if self.device.type == "cuda" and len(self.data.input_shape) == 3:
            module = module.to(memory_format=torch.channels_last)
        return module

    def loss(self, node=None, key: str = "loss"):
        return instantiate(self.cfg.loss if node is None else node, key=key, trust=self.trust)

    def optimizer(self, params, node=None, scheduler=_DEFAULT, grad_clip=_DEFAULT, key: str = "optimizer"):
        """An :class:`~nnml.engine.step.OptimizerSlot`: the optimizer of ``node`` (default ``cfg.optimizer``) over
        ``params``, its scheduler (default ``cfg.scheduler`` when ``node`` is the default), gradient clipping
        (default ``trainer.grad_clip``) and, under ``trainer.precision=16``, a GradScaler of its own."""
        from nnml.engine.step import OptimizerSlot

        default = node is None
        node = self.cfg.optimizer if default else _node(node)
        if node is None or "_target_" not in node:  # optimizer=none, which closed-form models (ALS) choose
            model = self.choices.get("model")
            raise NnmlError(f"{key}=none builds no optimizer, but this run trains "
                            f"{f'model={model}' if model else 'its model'} by gradient: add {key}=adam (or another "
                            f"optimizer: nnml list optimizer)")
        params = list(params)
        optimizer = instantiate(node, key=key, trust=self.trust)
        if not isinstance(optimizer, torch.optim.Optimizer):
            optimizer = optimizer(params)
        if scheduler is _DEFAULT:
            scheduler = self.cfg.get("scheduler") if default else None
        scheduler = _node(scheduler) if scheduler is not None else None
        sched, interval = build_scheduler(scheduler, optimizer, steps_per_epoch=self.steps_per_epoch,
                                          max_epochs=int(self.cfg.trainer.max_epochs),
                                          monitor_mode=self.monitor_mode, trust=self.trust)
        clip = self.cfg.trainer.get("grad_clip") if grad_clip is _DEFAULT else grad_clip
        scaler = torch.amp.GradScaler("cuda") if self.precision == "16" else None
        return OptimizerSlot(optimizer, sched, interval, float(clip) if clip else None, scaler)

    def tensor_batches(self, split: str, tensors, batch_size: int | None = None, shuffle: bool | None = None):
        return tensor_batches(tensors, self.cfg.dataset, train=split == "train" and not self.evaluating, seed=self.seed,
                              device=self.device, batch_size=batch_size, shuffle=shuffle)


def build_loggers(cfg_logger, run_dir: Path, trust: Trust) -> list:
    """The logger group maps a name to a logger config (``tensorboard``, ``csv``); ``logger=none`` is empty."""
    if not cfg_logger:
        return []
    return [instantiate(node, key=f"logger.{name}", trust=trust, run_dir=str(run_dir))
            for name, node in cfg_logger.items()
            if isinstance(node, DictConfig) and "_target_" in node]

