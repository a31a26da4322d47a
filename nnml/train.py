"""One training run, top to bottom: validate the config, build data, model, loss, optimizer and scheduler, fit,
test the best weights, write the run's files. Called by ``nnml train`` (through Hydra), by ``nnml tune`` for each
trial and by tests; it knows nothing of the command line.
"""

from __future__ import annotations

import importlib
import random
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from nnml import __version__
from nnml.build import (
    build_criterion,
    build_data,
    build_loggers,
    build_model,
    build_optimizer,
    build_scheduler,
    eval_batches,
    resolve_monitor,
    train_batches,
)
from nnml.config.build import check_targets
from nnml.config.validate import validate
from nnml.engine.checkpoint import load_checkpoint
from nnml.engine.device import autocast_context, configure_threads, out_of_memory, resolve_device, setup_cuda_speedups
from nnml.engine.loop import Trainer
from nnml.rundir import resolve_resume
from nnml.tracking.runfiles import clean_number, write_json_atomic


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


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

    data = build_data(cfg.dataset, seed=int(cfg.seed), allowed=allowed)
    # Same seed -> same initial weights in every job of a sweep, whatever the data code consumed.
    torch.manual_seed(int(cfg.seed))
    model = build_model(cfg.model, data, allowed).to(device)
    if device.type == "cuda" and len(data.input_shape) == 3:
        model = model.to(memory_format=torch.channels_last)
    num_params = sum(p.numel() for p in model.parameters())
    if dist and dist.rank:
        torch.manual_seed(int(cfg.seed) + dist.rank)  # same initial weights, different dropout masks per rank
    criterion = build_criterion(cfg.loss, data, choices.get("loss", ""), allowed)
    optimizer = build_optimizer(cfg.optimizer, model, allowed)
    ds = cfg.dataset
    batches = train_batches(data, ds, int(cfg.seed), device)
    val_batches = eval_batches(data, "val", ds, device)
    monitor, mode = resolve_monitor(tr, data.task)
    scheduler, interval = build_scheduler(cfg.get("scheduler"), optimizer,
                                          steps_per_epoch=batches.batches_per_epoch(dist.world_size if dist else 1),
                                          max_epochs=int(tr.max_epochs), monitor_mode=mode, allowed=allowed)

    # The first optimizer.step() imports torch._dynamo (~1 s); do it here so it is not counted as training time.
    importlib.import_module("torch._dynamo")

    compiled = dist.wrap(model) if dist else None
    if tr.get("compile"):
        compiled = torch.compile(compiled or model)
    scaler = torch.amp.GradScaler("cuda") if str(tr.precision) == "16" else None

    loggers = build_loggers(cfg.get("logger"), run_dir, allowed) if main else []
    from nnml.tracking.console import ConsoleCallback, print_summary

    console_cb = ConsoleCallback(console, quiet=quiet)
    config_plain = OmegaConf.to_container(cfg, resolve=True)
    trainer = Trainer(
        model, criterion, optimizer, scheduler, batches, val_batches, task=data.task,
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
    # The metrics of the HParams tab; log_final keeps the finite numbers among them.
    final = {k: v for k, v in metrics.items() if k == "best_epoch" or k.split("/")[0] in ("train", "val", "test")}
    hp = hparams_of(cfg, choices, override_keys)
    for tb in tbs:
        tb.log_final(hp, final, figures if tb.figures else {})
