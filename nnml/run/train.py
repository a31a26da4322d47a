"""One training run, top to bottom: validate the config, build the data and the task (its modules, losses and
optimizer slots), fit, test the best weights, write the run's files. Called by ``nnml train`` (through Hydra), by
``nnml tune`` for each trial, by the Python API and by tests. It knows nothing of the command line: what the
command said (its overrides as typed, what a sweep varies, how many jobs share the cores, which targets are trusted)
arrives in a :class:`RunContext`.
"""

from __future__ import annotations

import contextlib
import importlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from nnml.config.notation import number_like
from nnml.config.resume import resolve_resume
from nnml.config.seeds import data_seed
from nnml.config.targets import Trust
from nnml.config.validate import validate
from nnml.data.batches import limit_batches
from nnml.engine import cpuload
from nnml.engine.checkpoint import load_checkpoint
from nnml.engine.device import (
    autocast_context,
    choose_threads,
    configure_threads,
    governor_for,
    out_of_memory,
    resolve_device,
    sample_batch,
    setup_cuda_speedups,
)
from nnml.engine.loop import LoopConfig, Trainer
from nnml.engine.step import optimizer_steps
from nnml.errors import NnmlError
from nnml.run.advice import advisor_for
from nnml.run.build import Builder, build_data, build_loggers, build_task, resolve_monitor
from nnml.tasks.capabilities import extra_metrics_of, final_artifacts_of, objective_of, without_regularization
from nnml.tracking.runfiles import clean_number, write_json_atomic
from nnml.tracking.signals import SignalsFile
from nnml.version import __version__


@dataclass
class RunContext:
    """What the command that starts a run knows and the run needs: where it goes, which targets its config may
    name, and how the user typed it."""

    run_dir: Path
    trust: Trust
    choices: dict = field(default_factory=dict)  # group -> option as chosen
    overrides: list = field(default_factory=list)  # this job's overrides as typed (a segment's record)
    swept: list = field(default_factory=list)  # the keys the sweep or study varies, in the order typed
    typed: dict = field(default_factory=dict)  # key -> value as the user typed it (1e10, not 10000000000.0)
    parallel_jobs: int = 1  # jobs of a sweep sharing this machine's cores
    argv: list = field(default_factory=list)  # the command as typed (["nnml", "train", ...]), for provenance.json
    cwd: str = ""  # the folder it was typed in ("": this process's)
    console: str = "full"  # full: header, epoch lines, results; short: all of it to train.log only (a sweep's job)
    stop_check: object = None  # () -> signal number or 0: a stop asked by a sweep whose job runs in another process

    @property
    def override_keys(self) -> list[str]:
        return [str(o).split("=", 1)[0] for o in self.overrides]


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def train(cfg: DictConfig, ctx: RunContext, *, callbacks=(), console=None, quiet: bool = False, dist=None) -> dict:
    """Run one training job into ``ctx.run_dir`` and return its final metrics (also written to metrics.json).

    ``dist`` (:class:`nnml.engine.distributed.Dist`): this process is one DDP rank; rank 0 alone writes files."""
    with torch_switches_kept():
        return _train(cfg, ctx, callbacks=callbacks, console=console, quiet=quiet, dist=dist)


@contextlib.contextmanager
def torch_switches_kept():
    """The process-wide torch switches a run turns are put back when it ends, however it ends: anomaly detection
    (``trainer.detect_anomaly``, which slows every later backward several times), deterministic algorithms
    (``trainer.deterministic``), cuDNN's autotuner, TF32 and the thread count. The next run in this process (a
    sweep's next job, a notebook's next ``nnml.train``) starts from what the process had, not from this run's."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (torch.is_anomaly_enabled(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32,
             torch.get_num_threads())
    try:
        yield
    finally:
        anomaly, deterministic, warn_only, cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32, threads = saved
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.autograd.set_detect_anomaly(anomaly)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _train(cfg: DictConfig, ctx: RunContext, *, callbacks=(), console=None, quiet: bool = False, dist=None) -> dict:
    t_start = time.perf_counter()
    window = cpuload.CpuWindow()  # trainer.num_threads=auto measures the cores others use from here to the first step
    run_dir = Path(ctx.run_dir)
    choices = dict(ctx.choices)
    validate(cfg)
    trust = ctx.trust
    trust.check(cfg)
    tr = cfg.trainer

    threads = configure_threads(tr.get("num_threads"))
    device = dist.device if dist else resolve_device(tr.device)
    main = dist is None or dist.is_main
    quiet = quiet or not main
    # Written before anything can fail, so that a failed run says where it came from too; rank 0 only under DDP.
    record = _provenance(cfg, ctx, run_dir, device, threads) if main else None
    autocast = autocast_context(device, str(tr.precision))
    seed_everything(int(cfg.seed), bool(tr.get("deterministic", False)))
    if tr.get("detect_anomaly"):
        torch.autograd.set_detect_anomaly(True)

    data = build_data(cfg.dataset, seed=data_seed(cfg), trust=trust)
    task = build_task(cfg, data, trust)
    monitor, mode = resolve_monitor(tr, task)
    builder = Builder(cfg, data, device, seed=int(cfg.seed), trust=trust, run_dir=run_dir, monitor_mode=mode,
                      choices=choices)
    overfit = int(tr.get("overfit_batches") or 0)  # debug=overfit: the same few batches every epoch
    batches = limit_batches(task.batches("train", builder), overfit or tr.get("limit_train_batches"), fixed=overfit > 0)
    setup_cuda_speedups(device, autotune=not getattr(batches, "varying_shapes", False) and not tr.get("deterministic"))
    # Schedulers that step per optimizer step count those: K batches make one with trainer.accumulate_grad_batches=K
    builder.steps_per_epoch = optimizer_steps(batches.batches_per_epoch(dist.world_size if dist else 1),
                                              int(tr.get("accumulate_grad_batches") or 1))
    # Same seed -> same initial weights in every job of a sweep, whatever the data code consumed.
    torch.manual_seed(int(cfg.seed))
    task.setup(builder)
    if overfit:
        without_regularization(task)
    bs = int(cfg.dataset.get("batch_size", 1) or 1)
    sample = sample_batch(data, bs, device)
    threads, threads_why = choose_threads(tr.get("num_threads"), task.modules, sample, bs, window=window,
                                          parallel_jobs=ctx.parallel_jobs)
    governor = governor_for(tr.get("num_threads"), threads, ctx.parallel_jobs) if device.type == "cpu" else None
    layers = _layers(task.modules.get(task.primary), sample) if not quiet else []
    num_params = sum(p.numel() for m in task.modules.values() for p in m.parameters())
    if dist and dist.rank:
        torch.manual_seed(int(cfg.seed) + dist.rank)  # same initial weights, different dropout masks per rank
    eval_sources = {"val": limit_batches(task.batches("val", builder), tr.get("limit_val_batches")),
                    "test": limit_batches(lambda: task.batches("test", builder), tr.get("limit_test_batches"))}

    # The first optimizer.step() imports torch._dynamo (~1 s); do it here so it is not counted as training time.
    importlib.import_module("torch._dynamo")

    forward, eval_forward = _wrapped_modules(task, tr, dist)
    loggers = build_loggers(cfg.get("logger"), run_dir, trust) if main else []
    from nnml.tracking.console import ConsoleCallback

    console_cb = ConsoleCallback(console, quiet=quiet, echo=ctx.console != "short")
    advisor = advisor_for(cfg, ctx, data, task, choices, console_cb)
    watchers = [advisor, SignalsFile(run_dir)] if main else [advisor]
    config_plain = OmegaConf.to_container(cfg, resolve=True)
    trainer = Trainer(task, batches, eval_sources, LoopConfig.from_trainer(tr, monitor, mode), device=device,
                      autocast=autocast, checkpoint_dir=run_dir / "checkpoints",
                      callbacks=[console_cb, *watchers, *loggers, *callbacks], config=config_plain, run_dir=run_dir,
                      forward_modules=forward, eval_modules=eval_forward, dist=dist, thread_governor=governor,
                      nan_hint=_lr_hint(ctx.typed.get("optimizer.lr")), stop_check=ctx.stop_check)
    trainer.start_segment(t_start, overrides=ctx.overrides)
    last_path, best_path = resolve_resume(cfg.get("resume"))
    if last_path is not None:
        ckpt = load_checkpoint(last_path)
        best = load_checkpoint(best_path) if best_path else None
        trainer.restore(ckpt, best, last_path)
        trainer.state.segments = _finished_segments(run_dir, trainer.state)
    if record is not None:
        record.update(threads=threads, from_epoch=trainer.state.epoch)
    primary = task.modules.get(task.primary)
    main_slot = task.slots.get(task.primary) or next(iter(task.slots.values()), None)
    trainer.state.info = {
        "run_dir": str(run_dir), "dataset": data.name, "task": data.task, "sizes": data.sizes(),
        "input_shape": data.input_shape, "num_outputs": data.num_outputs,
        "model": choices.get("model", type(primary).__name__), "num_params": num_params,
        "modules": {name: sum(p.numel() for p in m.parameters()) for name, m in task.modules.items()},
        "optimizer": choices.get("optimizer", type(main_slot.optimizer).__name__ if main_slot else "none"),
        "loss": objective_of(task) or choices.get("loss", ""), "task_name": choices.get("task", type(task).__name__),
        "device": str(device), "precision": str(tr.precision), "threads": threads,
        "threads_why": threads_why, "layers": layers, "model_ref": primary,
        "config_yaml": OmegaConf.to_yaml(cfg), "resumed_from": str(last_path) if last_path else "",
        "monitor": monitor, "keep_run": bool(cfg.get("keep_run", True)),
    }
    try:
        state = trainer.fit()
        trainer.load_best()
        t_eval = time.perf_counter()
        val = trainer.evaluate("val", records=True)
        test = trainer.evaluate("test", records=True)
        kept = {split: trainer.records(split) for split in ("val", "test")}  # collectives under DDP: every rank
        state.eval_time_s += time.perf_counter() - t_eval
        metrics = {k: v for k, v in state.last_metrics.items() if k.startswith("train/")}
        metrics.update({f"val/{k}": v for k, v in val.items()})
        metrics.update({f"test/{k}": v for k, v in test.items()})
        segments = trainer.segments()  # a resumed run's earlier segments, then this one
        metrics.update({
            "best_epoch": state.best_epoch if state.best_epoch > 0 else state.epoch,
            "epochs": state.epoch,
            "stop_reason": state.stop_reason,
            "wall_time_s": round(sum(seg["wall_time_s"] for seg in segments), 3),
            "train_time_s": round(state.train_time_s, 4),
            "eval_time_s": round(state.eval_time_s, 4),
            "checkpoint_time_s": round(state.checkpoint_time_s, 4),
            "compile_time_s": round(state.compile_time_s, 4),
            "train_samples_per_s": round(state.train_samples / state.train_time_s, 1) if state.train_time_s else 0.0,
            "num_params": num_params,
            "device": str(device),
            "world_size": dist.world_size if dist else 1,
            "monitor": monitor,
            "mode": mode,
            "task": choices.get("task", type(task).__name__),
            "directions": task.metric_directions(),
            "nnml_version": __version__,
            **extra_metrics_of(task),
            "segments": segments,
        })
        metrics["warnings"] = advisor.verdict(metrics, state.last_metrics, metrics["best_epoch"])
        metrics = {k: clean_number(v) for k, v in metrics.items()}
        if main:
            metrics.update(_save_records(task, kept, run_dir))
            write_json_atomic(run_dir / "metrics.json", metrics)
        trainer.callbacks.on_test_end(state, metrics)
        if main and trainer.callbacks.wants_artifacts:
            artifacts = final_artifacts_of(task, trainer.ctx)
            if artifacts:
                trainer.callbacks.on_artifacts(state, artifacts)
        _log_hparams(loggers, config_plain, choices, ctx.override_keys, metrics, ctx.swept)
    except torch.OutOfMemoryError:
        ds = cfg.dataset
        raise out_of_memory(device, int(ds.batch_size), ds.get("eval_batch_size"), str(tr.precision)) from None
    finally:
        trainer.callbacks.close()
    return metrics


def _save_records(task, kept: dict, run_dir: Path) -> dict:
    """Write each split's records to ``predictions/<split>.npz`` and return what metrics.json adds: the 95%
    intervals of the metrics recomputed from them (``intervals``, ``interval_methods``) and the time it took."""
    from nnml.run import records as R
    from nnml.tasks.capabilities import Records

    if not isinstance(task, Records):
        return {}
    t0 = time.perf_counter()
    found, how = {}, {}
    for split, rec in kept.items():
        if not rec:
            continue
        spec = task.records_spec(split)
        R.save(run_dir, split, rec, spec)
        lo_hi, methods = R.intervals(spec, rec, split)
        found.update({k: [clean_number(v) for v in pair] for k, pair in lo_hi.items()})
        how.update(methods)
    if not found:
        return {}
    return {"intervals": found, "interval_methods": how, "records_time_s": round(time.perf_counter() - t0, 4)}


def _provenance(cfg, ctx: RunContext, run_dir: Path, device, threads: int):
    """Start this segment's record in provenance.json (nnml/run/provenance.py): the command and folder it was typed
    in, the code and machine, the device, the threads so far and the seeds."""
    from nnml.run import provenance

    seeds = {"seed": int(cfg.seed), "data_seed": data_seed(cfg)}
    record = provenance.collect(argv=ctx.argv, cwd=ctx.cwd or Path.cwd(), config=cfg, threads=threads, seeds=seeds,
                                device=str(device))
    record["from_epoch"] = None if cfg.get("resume") else 0  # a resume's is known once its checkpoint is read
    return provenance.RunRecord(run_dir, record, resumed=bool(cfg.get("resume")))


def _finished_segments(run_dir: Path, state) -> list[dict]:
    """The segments a resumed run has behind it. Its checkpoint's record stops at the last checkpoint; a finished
    run's metrics.json has the same segments to their end (the final test included), and a run from before
    segments were recorded has only its metrics.json totals."""
    import json

    try:
        m = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return list(state.segments)
    if m.get("epochs") != state.epoch:
        return list(state.segments)  # resumed from an earlier checkpoint than the finished result
    recorded = m.get("segments")
    if isinstance(recorded, list) and len(recorded) == len(state.segments):
        return recorded
    if not state.segments and isinstance(m.get("wall_time_s"), (int, float)):
        return [{"started_at": "", "overrides": [], "from_epoch": 0, "to_epoch": state.epoch,
                 "wall_time_s": m["wall_time_s"], "train_time_s": m.get("train_time_s", 0.0),
                 "stop_reason": m.get("stop_reason", "")}]
    return list(state.segments)


def _lr_hint(typed_lr: str | None):
    """The NaN message's advice: a tenth of the learning rate, in the notation the user typed (1e10 -> 1e9)."""

    def hint(lr: float) -> str:
        return f"optimizer.lr={number_like(lr / 10, typed_lr)}"

    return hint


def _layers(model, sample) -> list[dict]:
    """The header's layer-by-layer summary (nnml/tracking/layers.py), on two of the training inputs."""
    if model is None or sample is None:
        return []
    from nnml.tracking.layers import layer_rows

    return layer_rows(model, sample[0][:2])


def _wrapped_modules(task, tr, dist) -> tuple[dict, dict | None]:
    """The modules that run training and evaluation batches: DDP-wrapped (training only) and/or compiled."""
    forward: dict = {}
    if dist:
        if not task.automatic_optimization:
            raise NnmlError(f"trainer.devices > 1 (DDP) needs a task with one optimizer stepped by the loop; "
                            f"{type(task).__name__} steps its own optimizers: train it with trainer.devices=1")
        forward[task.primary] = dist.wrap(task.modules[task.primary])
    if tr.get("compile"):
        for name, m in task.modules.items():
            if any(p.requires_grad for p in m.parameters()):
                forward[name] = torch.compile(forward.get(name, m))
    # Evaluation runs no collectives (ranks may have unequal shards): the bare modules under DDP.
    return forward, ({} if dist else None)


def _log_hparams(loggers, config_plain, choices, override_keys, metrics, swept) -> None:
    from nnml.tracking.tensorboard import TensorBoardLogger, hparam_metrics, hparams_of

    tbs = [lg for lg in loggers if isinstance(lg, TensorBoardLogger)]
    if not tbs:
        return
    # The metrics of the HParams tab, monitored metric first; log_final keeps the finite numbers among them.
    final = hparam_metrics(metrics)
    hp = hparams_of(config_plain, choices, override_keys, swept)
    for tb in tbs:
        tb.log_final(hp, final, {}, swept)
