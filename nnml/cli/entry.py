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
from nnml.cli.report import Stopped, debug, report_error, stopped_note
from nnml.config import config_dir
from nnml.config.runfolder import RunFolder
from nnml.errors import NnmlError
from nnml.run.job import DISK_ERRNOS as _DISK_ERRNOS
from nnml.run.job import disk_error
from nnml.run.job import is_disk_full as _is_disk_full


def run_guarded(job, run: RunFolder, multirun: bool, resumed: bool = False):
    """Run ``job()``; a user error or crash becomes one line on stderr and ``error.txt`` in the run folder (never in
    a run that had finished: a failed extension of it is reported, the run keeps its result). In a sweep the job
    returns None instead of exiting, so the other jobs go on."""
    from nnml.engine.loop import Interrupted

    try:
        return job()
    except Interrupted as e:  # asked for (Ctrl-C, a scheduler's SIGTERM): a note, not an error
        how = "Ctrl-C" if e.args[0] == "SIGINT" else e.args[0]
        stopped_note(f"by {how}; saved {e.checkpoint}. Resume with:\n  nnml train resume={_quoted(run.path)}")
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        run.write_error("stopped by Ctrl-C before it finished")  # the folder says why it is incomplete
        report_error("stopped at once by Ctrl-C; the last saved checkpoint (if any) is kept")
        raise SystemExit(130) from None
    except Stopped as e:
        run.write_error(f"stopped by {e.name} before it finished")
        report_error(f"stopped by {e.name}; the last saved checkpoint (if any) is kept")
        raise SystemExit(e.exit_code) from None
    except OSError as e:  # a full disk, a read-only or unwritable folder while the run was going
        if e.errno in _DISK_ERRNOS:
            return _fail(disk_error(e), run, multirun)
        return _crash(e, run, multirun)
    except NnmlError as e:
        return _fail(e, run, multirun)
    except Exception as e:
        if _is_disk_full(e):
            return _fail(disk_error(e), run, multirun)
        return _crash(e, run, multirun)


def _fail(e: NnmlError, run: RunFolder, multirun: bool):
    run.write_error(str(e))
    if debug():
        raise e
    report_error(str(e))
    if multirun:
        return None
    raise SystemExit(e.exit_code) from None


def _crash(e: Exception, run: RunFolder, multirun: bool):
    run.write_error(f"{type(e).__name__}: {e}")
    if debug():
        raise e
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    report_error(f"{type(e).__name__}: {first} (set NNML_DEBUG=1 for the traceback)")
    if multirun:
        return None
    raise SystemExit(1) from None


def _quoted(path) -> str:
    """A path as a shell argument: sweep job folders hold '=' and ',' (``optimizer=adam,seed=1``)."""
    import shlex

    return shlex.quote(str(path))


def job_context(run_dir: Path):
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
                     typed=typed_values(overrides, varies), parallel_jobs=concurrent_jobs(hc) if multirun else 1)
    return ctx, multirun


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def train_app(cfg: DictConfig):
    from hydra.core.hydra_config import HydraConfig

    run = RunFolder(HydraConfig.get().runtime.output_dir)
    ctx, multirun = job_context(run.path)

    def job():
        from nnml.run.job import train_in_folder

        return train_in_folder(cfg, ctx, run)

    return run_guarded(job, run, multirun)


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
