"""One training run, top to bottom: validate the config, build data, model, loss, optimizer and scheduler, fit,
test the best weights, write the run's files. Called by ``nnml train`` (through Hydra), by ``nnml tune`` for each
trial and by tests; it knows nothing of the command line.
"""

from __future__ import annotations

import importlib
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from nnml import __version__
from nnml.config.build import check_targets, instantiate
from nnml.config.validate import check_monitor, validate
from nnml.data import build_data
from nnml.data.batches import make_batches
from nnml.engine.checkpoint import load_checkpoint
from nnml.engine.device import (autocast_context, configure_threads, out_of_memory, resolve_device,
                               setup_cuda_speedups)
from nnml.engine.losses import make_criterion
from nnml.engine.loop import Trainer
from nnml.engine.resume import resolve_resume
from nnml.engine.metrics import metric_names, monitor_default
from nnml.engine.schedulers import build_scheduler
from nnml.errors import NnmlError
from nnml.tracking.runfiles import clean_number, write_json_atomic


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def build_model(cfg_model, data, allowed=()):
    return instantiate(cfg_model, key="model", allowed=allowed, input_shape=tuple(data.input_shape),
                       num_outputs=data.num_outputs)


def build_criterion(cfg_loss, data, loss_name: str = "", allowed=()):
    return make_criterion(instantiate(cfg_loss, key="loss", allowed=allowed), data.task, data.num_outputs, loss_name)


def eval_batches(data, split: str, cfg_dataset, device):
    x, y = data.split(split)
    bs = cfg_dataset.get("eval_batch_size") or max(int(cfg_dataset.batch_size), 1024)
    return make_batches(x, y, batch_size=bs, shuffle=False, seed=0, device=device,
                        loader=cfg_dataset.get("loader", "auto"), num_workers=cfg_dataset.get("num_workers", 2))


def train(cfg: DictConfig, run_dir: str | Path, *, choices: dict | None = None, override_keys=(),
          callbacks=(), console=None, quiet: bool = False, dist=None) -> dict:
    """Run one training job into ``run_dir`` and return its final metrics (also written to metrics.json).

    ``dist`` (:class:`nnml.engine.distributed.Dist`): this process is one DDP rank; rank 0 alone writes files."""
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    choices = dict(choices or {})
    validate(cfg)
    allowed = list(cfg.get("allowed_targets") or [])
    check_targets(cfg, allowed)
    tr = cfg.trainer

    threads = configure_threads(tr.get("num_threads"))
    device = dist.device if dist else resolve_device(tr.device)
    main = dist is None or dist.is_main
    quiet = quiet or not main
    setup_cuda_speedups(device)
    autocast = autocast_context(device, str(tr.precision))
    seed_everything(int(cfg.seed), bool(tr.get("deterministic", False)))
    if tr.get("detect_anomaly"):
        torch.autograd.set_detect_anomaly(True)

    data = build_data(cfg.dataset, seed=int(cfg.seed))
    # Same seed -> same initial weights in every job of a sweep, whatever the data code consumed.
    torch.manual_seed(int(cfg.seed))
    model = build_model(cfg.model, data, allowed).to(device)
    if device.type == "cuda" and len(data.input_shape) == 3:
        model = model.to(memory_format=torch.channels_last)
    num_params = sum(p.numel() for p in model.parameters())
    if dist and dist.rank:
        torch.manual_seed(int(cfg.seed) + dist.rank)  # same initial weights, different dropout masks per rank
    criterion = build_criterion(cfg.loss, data, choices.get("loss", ""), allowed)
    optimizer = instantiate(cfg.optimizer, key="optimizer", allowed=allowed)
    optimizer = optimizer(model.parameters()) if callable(optimizer) and not isinstance(optimizer, torch.optim.Optimizer) else optimizer

    ds = cfg.dataset
    train_batches = make_batches(*data.split("train"), batch_size=int(ds.batch_size), shuffle=True, seed=int(cfg.seed),
                                 device=device, loader=ds.get("loader", "auto"), num_workers=ds.get("num_workers", 2))
    val_batches = eval_batches(data, "val", ds, device)

    monitor, mode = str(tr.get("monitor", "auto")), str(tr.get("mode", "auto"))
    default_monitor, default_mode = monitor_default(data.task)
    if monitor == "auto":
        monitor, mode = default_monitor, default_mode if mode == "auto" else mode
    elif mode == "auto":
        mode = "max" if monitor.split("/")[-1] in ("acc", "f1", "r2") else "min"
    names = metric_names(data.task)
    check_monitor(monitor, [f"{s}/{n}" for s in ("val", "train") for n in names])
    scheduler, interval = build_scheduler(cfg.get("scheduler"), optimizer,
                                          steps_per_epoch=train_batches.batches_per_epoch(
                                              dist.world_size if dist else 1),
                                          max_epochs=int(tr.max_epochs), monitor_mode=mode)

    # The first optimizer.step() imports torch._dynamo (~1 s); do it here so it is not counted as training time.
    importlib.import_module("torch._dynamo")

    compiled = dist.wrap(model) if dist else None
    if tr.get("compile"):
        compiled = torch.compile(compiled or model)
    scaler = torch.amp.GradScaler("cuda") if str(tr.precision) == "16" else None

    loggers = _build_loggers(cfg.get("logger"), run_dir, allowed) if main else []
    from nnml.tracking.console import ConsoleCallback, print_summary

    console_cb = ConsoleCallback(console, quiet=quiet)
    config_plain = OmegaConf.to_container(cfg, resolve=True)
    trainer = Trainer(
        model, criterion, optimizer, scheduler, train_batches, val_batches, task=data.task,
        num_outputs=data.num_outputs, device=device, precision_ctx=autocast, scaler=scaler,
        max_epochs=int(tr.max_epochs), sched_interval=interval, grad_clip=tr.get("grad_clip"),
        log_every_n_steps=int(tr.log_every_n_steps), val_every_n_epochs=int(tr.val_every_n_epochs),
        monitor=monitor, mode=mode, patience=tr.get("patience"), checkpoint_dir=run_dir / "checkpoints",
        checkpoint_every_n_epochs=int(tr.get("checkpoint_every_n_epochs", 0)),
        checkpoint_every_s=float(tr.get("checkpoint_every_s", 60)), callbacks=[console_cb, *loggers, *callbacks],
        config=config_plain, seed=int(cfg.seed), compiled_model=compiled, dist=dist,
        eval_model=model if dist else None,  # evaluation runs no collectives (ranks may have unequal shards)
    )
    last_path, best_path = resolve_resume(cfg.get("resume"), run_dir)
    if last_path is not None:
        ckpt = load_checkpoint(last_path)
        best = load_checkpoint(best_path) if best_path else None
        trainer.restore(ckpt, best, last_path)
    trainer.state.info = {
        "run_dir": str(run_dir), "dataset": data.name, "task": data.task, "sizes": data.sizes(),
        "input_shape": data.input_shape, "num_outputs": data.num_outputs,
        "model": choices.get("model", type(model).__name__), "num_params": num_params,
        "optimizer": choices.get("optimizer", type(optimizer).__name__), "loss": choices.get("loss", ""),
        "device": str(device), "precision": str(tr.precision), "threads": threads, "model_ref": model,
        "config_yaml": OmegaConf.to_yaml(cfg), "resumed_from": str(last_path) if last_path else "",
        "monitor": monitor,
    }
    try:
        state = trainer.fit()
        trainer.load_best()
        t_eval = time.perf_counter()
        val = trainer.evaluate(val_batches)
        test_batches = eval_batches(data, "test", ds, device)
        test = trainer.evaluate(test_batches)
        state.eval_time_s += time.perf_counter() - t_eval
        metrics = {k: v for k, v in state.last_metrics.items() if k.startswith("train/")}
        metrics.update({f"val/{k}": v for k, v in val.items()})
        metrics.update({f"test/{k}": v for k, v in test.items()})
        metrics.update({
            "best_epoch": state.best_epoch if state.best_epoch > 0 else state.epoch,
            "epochs": state.epoch,
            "stop_reason": state.stop_reason,
            "wall_time_s": round(time.perf_counter() - t_start, 3),
            "train_time_s": round(state.train_time_s, 4),
            "eval_time_s": round(state.eval_time_s, 4),
            "checkpoint_time_s": round(state.checkpoint_time_s, 4),
            "compile_time_s": round(state.compile_time_s, 4),
            "train_samples_per_s": round(state.train_samples / state.train_time_s, 1) if state.train_time_s else 0.0,
            "num_params": num_params,
            "device": str(device),
            "world_size": dist.world_size if dist else 1,
            "monitor": monitor,
            "nnml_version": __version__,
        })
        metrics = {k: clean_number(v) for k, v in metrics.items()}
        if main:
            write_json_atomic(run_dir / "metrics.json", metrics)
        trainer.callbacks.on_test_end(state, metrics)
        _log_final(loggers, cfg, choices, override_keys, metrics, data, model, test_batches, device, autocast)
    except torch.OutOfMemoryError:
        raise out_of_memory(device, int(ds.batch_size), ds.get("eval_batch_size"), str(tr.precision)) from None
    finally:
        trainer.callbacks.close()
    if not quiet:
        print_summary(console_cb.console, metrics, str(run_dir))
    return metrics


def _build_loggers(cfg_logger, run_dir: Path, allowed) -> list:
    """The logger group is a mapping of name -> logger config (``tensorboard``, ``csv``); ``none`` is empty."""
    if not cfg_logger:
        return []
    out = []
    for name, node in cfg_logger.items():
        if node is None or not isinstance(node, DictConfig) or "_target_" not in node:
            continue
        out.append(instantiate(node, key=f"logger.{name}", allowed=allowed, run_dir=str(run_dir)))
    return out


def _log_final(loggers, cfg, choices, override_keys, metrics, data, model, test_batches, device, autocast) -> None:
    from nnml.tracking.tensorboard import TensorBoardLogger, hparams_of

    tbs = [lg for lg in loggers if isinstance(lg, TensorBoardLogger)]
    if not tbs:
        return
    figures = {}
    if any(tb.figures for tb in tbs):
        from nnml.tracking import figures as figs

        if data.task == "classification":
            cm = figs.confusion_matrix(model, test_batches, device, autocast, data.num_outputs)
            figures["test/confusion_matrix"] = figs.confusion_figure(cm, data.class_names)
            if tuple(data.input_shape) == (2,):
                figures["test/decision_boundary"] = figs.decision_boundary_figure(
                    model, data.x_test, data.y_test, device, f"{data.name}: test points")
    numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None
               and not isinstance(v, bool) and k.split("/")[0] in ("train", "val", "test") or k == "best_epoch"}
    hp = hparams_of(cfg, choices, override_keys)
    for tb in tbs:
        tb.log_final(hp, {k: v for k, v in numeric.items() if isinstance(v, (int, float)) and math.isfinite(v)},
                     figures if tb.figures else {})
