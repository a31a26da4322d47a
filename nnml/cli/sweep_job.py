"""One job of ``nnml train -m``, as Hydra's launcher calls it (through :class:`nnml.cli.entry.TrainJob`), in the
command's process (the basic launcher) or another one (joblib, submitit).

A sweep runs with ``hydra.output_subdir=null``, so Hydra writes nothing into a job's folder before the job decides
what to do with it (nnml/sweep/jobs.py): a job that finished with the same config is reported and left as it is
(not a byte changes: Hydra only opened its ``train.log`` for appending, and nothing is logged); an interrupted one
resumes from its ``last.pt`` as ``nnml train resume=JOB`` would; a failed one has its attempt moved into
``.failed-N/`` and runs again; a new one writes the ``.hydra/`` record Hydra would have written, then trains. A
sweep asked to stop (its stop file) starts no new job. Each job that ends prints one line (its name, the monitored
metric, its time, what happened); its ``train.log`` gets everything, and ``-v`` prints the epochs as well.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import time
from functools import partial
from pathlib import Path

from omegaconf import OmegaConf, open_dict, read_write

from nnml.cli.report import report_error
from nnml.config.runfolder import RunFolder
from nnml.sweep import jobs as J


def run_sweep_job(job, cfg, run: RunFolder, ctx):
    from hydra.core.hydra_config import HydraConfig

    from nnml.cli.guarded import run_guarded, train_job
    from nnml.config.resume import SEGMENT_KEYS

    t0 = time.perf_counter()
    sweep = Path(str(HydraConfig.get().sweep.dir))
    in_process = os.getpid() == job.parent_pid
    if not in_process:
        _signals_to_the_command()
    signum = J.stop_requested(sweep)
    if signum:  # the sweep was asked to stop before this job began: it does not begin
        if J.only_startup_files(run):
            shutil.rmtree(run.path, ignore_errors=True)
        if in_process:
            raise SystemExit(128 + signum)
        return None
    state = J.job_state(run)
    if state == J.INTERRUPTED and not run.is_run():
        state = J.FAILED
    if state in (J.DONE, J.INTERRUPTED):
        if run.is_locked():
            report_error(f"{run.path.name}: {run.locked_message()}")
            return None
        changes = J.changed_keys(run, cfg)
        if changes:  # the command's check refuses this before the sweep starts; a job never overwrites one
            report_error(J.changed_message(run, "hydra.sweep.dir", changes))
            return None
    if state == J.DONE:
        metrics = run.metrics()
        _echo(metrics, run, metrics.get("wall_time_s"), "kept (finished before)")
        return metrics
    ctx.console = "full" if job.verbose else "short"
    ctx.stop_check = partial(J.stop_requested, sweep)
    resume_overrides = None
    if state == J.INTERRUPTED:
        with open_dict(cfg):
            cfg.resume = str(run.path)
        # the config equals the saved one but for where and how fast it runs: only those keys are given to the resume
        resume_overrides = [o for o in ctx.overrides if o.split("=", 1)[0].lstrip("+~") in SEGMENT_KEYS]
    else:
        if state == J.FAILED:
            J.set_aside(run)
        write_hydra_record(run, cfg)
    result = run_guarded(lambda: train_job(cfg, run, ctx, resume_overrides), run, multirun=True,
                         in_process=in_process)
    if result is not None:
        status = "ok"
        segments = result.get("segments") or []
        if state == J.INTERRUPTED and segments:
            status = f"ok (resumed in epoch {int(segments[-1].get('from_epoch') or 0) + 1})"
        elif state == J.FAILED:
            status = "ok (ran again after a failed attempt)"
        _echo(result, run, time.perf_counter() - t0, status)
    return result


def _echo(metrics: dict, run: RunFolder, seconds, status: str) -> None:
    from nnml.cli.sweeps import job_line

    print(job_line(run.path.name, metrics.get("monitor"), metrics, seconds, status), flush=True)


def _signals_to_the_command() -> None:
    """In a worker process, Ctrl-C reaches the sweep's command, which asks the jobs to stop through the sweep
    folder: outside a training loop (whose own handler saves and stops), the worker ignores the signal instead of
    dying between jobs, which would take the whole pool down."""
    try:
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
    except ValueError:
        pass  # not the main thread


def write_hydra_record(run: RunFolder, cfg) -> None:
    """``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` as Hydra writes them into a job's folder
    (it does not in a sweep: ``hydra.output_subdir=null``, so that a job it skips stays as it was)."""
    from hydra.core.hydra_config import HydraConfig

    from nnml.files import atomic_write_text

    hydra_cfg = copy.deepcopy(HydraConfig.instance().cfg)
    node = hydra_cfg.hydra
    with read_write(node), open_dict(node), read_write(node.overrides):
        node.output_subdir = ".hydra"  # where these files are
        node.overrides.hydra = [o for o in node.overrides.hydra if not str(o).startswith("hydra.output_subdir=")]
    folder = run.hydra_dir
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(folder / "hydra.yaml", OmegaConf.to_yaml(hydra_cfg))
    atomic_write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.hydra.overrides.task))
