"""The Hydra entry points that the CLI calls: module-level functions free of CLI state, so that Hydra's joblib and
submitit launchers can pickle them. This is where Hydra's global state is read (``HydraConfig``): everything a run
needs from it travels on as arguments (:class:`nnml.run.train.RunContext`). Each turns errors into one line and an
exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

import nnml.config.resolvers  # noqa: F401  (registers nnml_job and nnml_fresh_dir, which the configs name)
from nnml.cli.guarded import run_guarded, train_job
from nnml.cli.report import debug, report_error
from nnml.config import config_dir
from nnml.config.runfolder import RunFolder


def job_context(run_dir: Path, job: TrainJob | None = None):
    """(RunContext without its trust, multirun?) of the Hydra job running now: the one place a train job reads
    Hydra's global state."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from nnml.cli.sweeps import concurrent_jobs
    from nnml.config.notation import typed_values
    from nnml.config.resolvers import read_manifest
    from nnml.run.train import RunContext

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra/")}
    overrides = [str(o) for o in hc.overrides.task]
    varies = (read_manifest(hc.sweep.dir).get("varies") or {}) if multirun else {}
    ctx = RunContext(run_dir=Path(run_dir), trust=None, choices=choices, overrides=overrides, swept=list(varies),
                     typed=typed_values(overrides, varies), parallel_jobs=concurrent_jobs(hc) if multirun else 1,
                     argv=list(job.argv) if job else [], cwd=job.cwd if job else "")
    return ctx, multirun


class TrainJob:
    """What Hydra calls for each job of ``nnml train`` (the task function): it carries what the command knows that
    the config does not, as arguments: the command as typed and its folder (for provenance.json), ``-v`` (a sweep
    prints every job's epochs), and the command's process id (a sweep job in another process, under joblib or
    submitit, does not end the command when it is stopped). Plain data, so Hydra's launchers can pickle it."""

    def __init__(self, argv, cwd, verbose: bool = False, parent_pid: int | None = None):
        import os

        self.argv, self.cwd, self.verbose = [str(a) for a in argv], str(cwd), bool(verbose)
        self.parent_pid = os.getpid() if parent_pid is None else int(parent_pid)

    def __call__(self, cfg: DictConfig):
        from hydra.core.hydra_config import HydraConfig

        run = RunFolder(HydraConfig.get().runtime.output_dir)
        ctx, multirun = job_context(run.path, self)
        if multirun:
            from nnml.cli.sweep_job import run_sweep_job

            return run_sweep_job(self, cfg, run, ctx)
        return run_guarded(lambda: train_job(cfg, run, ctx), run, multirun=False)


def train_main(job: TrainJob):
    """``nnml train``'s ``@hydra.main`` around ``job``."""
    return hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")(job)


def call_hydra(app, prog: str, args: list[str]) -> None:
    """Run a ``@hydra.main`` function with ``args`` as its command line (Hydra parses its own flags)."""
    saved = sys.argv
    sys.argv = [prog, *args]
    try:
        app()
    except ValueError as e:
        # Hydra's own argument checks (e.g. "-m" with "--cfg") raise a bare ValueError before any job runs.
        if debug():
            raise
        report_error(f"{e} (Hydra flags: {' '.join(a for a in args if a.startswith('-')) or 'none'})")
        raise SystemExit(2) from None
    finally:
        sys.argv = saved


def lab_app(name: str, as_json: bool):
    """The Hydra entry of ``nnml lab NAME``: the lab's own config ``configs/lab/NAME.yaml`` as primary config."""
    from nnml.cli.labs import LABS
    from nnml.errors import bad_choice

    if name not in LABS:
        raise bad_choice("lab", name, LABS)

    @hydra.main(version_base="1.3", config_path=config_dir(), config_name=f"lab/{name}")
    def app(cfg: DictConfig):
        from hydra.core.hydra_config import HydraConfig

        run = RunFolder(HydraConfig.get().runtime.output_dir)

        def job():
            import json

            from nnml.cli.labs import run_lab
            from nnml.tracking.console import make_console, short_path
            from nnml.tracking.runfiles import write_json_atomic

            numbers, table = run_lab(name, OmegaConf.to_container(cfg, resolve=True), run.path)
            write_json_atomic(run.path / "results.json", numbers)
            console = make_console(stderr=as_json)
            console.print(table)
            console.print(f"results in {short_path(run.path)}", soft_wrap=True, highlight=False)
            if as_json:
                print(json.dumps(numbers, default=str))

        return run_guarded(job, run, multirun=False)

    return app


def lab_hydra_overrides(name: str) -> list[str]:
    """Run folders, logging and job name for a lab (its primary config has no ``hydra:`` section of its own)."""
    return [
        "hydra/job_logging=nnml",
        f"hydra.run.dir='${{nnml_fresh_dir:outputs/lab/{name}/${{now:%Y-%m-%d_%H-%M-%S}}}}'",
        f"hydra.sweep.dir='${{nnml_fresh_dir:outputs/lab/{name}/multiruns/${{now:%Y-%m-%d_%H-%M-%S}}}}'",
        "hydra.sweep.subdir='${nnml_safe:${hydra.job.override_dirname}}'",
        "hydra.job.name=lab",
        "hydra.job.chdir=false",
    ]
