"""The Hydra entry points that the CLI calls: module-level functions free of CLI state, so that Hydra's joblib and
submitit launchers can pickle them. Each turns errors into one line and an exit code."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from nnml.config import config_dir

# The resolvers (nnml_fresh_dir, nnml_safe) live in the config layer; importing it registers them.
from nnml.config.resolvers import fresh_dir, safe_name  # noqa: E402,F401
from nnml.errors import NnmlError

# What a run folder holds before training starts: Hydra's saved config, the log file and the error.
_NOTHING_YET = {".hydra", "error.txt"}


def _discard_if_empty(run_dir: Path) -> bool:
    """Remove a run folder this process created when it holds nothing but its config, log and error (a bad input
    found inside the job, before training wrote anything); also the parent folders made for it, if empty."""
    import shutil

    from nnml.config.resolvers import CREATED

    run_dir = Path(run_dir).absolute()
    parents = CREATED.get(str(run_dir))
    if parents is None or not run_dir.is_dir():
        return False
    if any(p.name not in _NOTHING_YET and p.suffix != ".log" for p in run_dir.iterdir()):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    for parent in parents:
        try:
            os.rmdir(parent)
        except OSError:
            break
    CREATED.pop(str(run_dir), None)
    return True


def debug() -> bool:
    return bool(os.environ.get("NNML_DEBUG") or os.environ.get("HYDRA_FULL_ERROR") == "1")


def report_error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    # escape: values such as model.activation=[relu] must not be read as rich markup
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/bold red] {escape(message)}")


def _job_context():
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra/")}
    override_keys = [o.split("=", 1)[0] for o in hc.overrides.task]
    return Path(hc.runtime.output_dir), choices, override_keys, hc.mode == RunMode.MULTIRUN


def run_guarded(job, run_dir: Path, multirun: bool):
    """Run ``job()``; a user error or crash becomes one line on stderr and ``error.txt`` in the run folder.
    In a sweep the job returns None instead of exiting, so the other jobs go on."""
    from nnml.engine.loop import Interrupted

    (Path(run_dir) / "error.txt").unlink(missing_ok=True)  # a resumed run clears its old failure
    try:
        return job()
    except Interrupted as e:  # asked for (Ctrl-C, a scheduler's SIGTERM): a note, not an error
        from rich.console import Console
        from rich.markup import escape

        how = "Ctrl-C" if e.args[0] == "SIGINT" else e.args[0]
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[bold yellow]stopped[/bold yellow] by {how}; saved {escape(str(e.checkpoint))}. Resume with:\n"
            f"  nnml train resume={escape(str(run_dir))}")
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        _write_error(run_dir, "stopped by Ctrl-C before it finished")  # the folder says why it is incomplete
        report_error("stopped at once by Ctrl-C; the last saved checkpoint (if any) is kept")
        raise SystemExit(130) from None
    except OSError as e:  # a full disk, a read-only or unwritable folder while the run was going
        if e.errno in _DISK_ERRNOS:
            e = NnmlError(f"could not write {e.filename or 'a run file'}: {e.strerror}; free disk space or choose "
                          f"another output folder with hydra.run.dir=...", exit_code=1)
            return _fail(e, run_dir, multirun)
        return _crash(e, run_dir, multirun)
    except NnmlError as e:
        return _fail(e, run_dir, multirun)
    except Exception as e:
        return _crash(e, run_dir, multirun)


_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def _fail(e: NnmlError, run_dir: Path, multirun: bool):
    _write_error(run_dir, str(e))
    if e.exit_code == 2 and not multirun:
        _discard_if_empty(run_dir)  # bad input: one line and nothing left behind, as for the checks before a run
    if debug():
        raise e
    report_error(str(e))
    if multirun:
        return None
    raise SystemExit(e.exit_code) from None


def _crash(e: Exception, run_dir: Path, multirun: bool):
    _write_error(run_dir, f"{type(e).__name__}: {e}")
    if debug():
        raise e
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    report_error(f"{type(e).__name__}: {first} (set NNML_DEBUG=1 for the traceback)")
    if multirun:
        return None
    raise SystemExit(1) from None


def _write_error(run_dir: Path, message: str) -> None:
    try:
        (Path(run_dir) / "error.txt").write_text(message + "\n")
    except OSError:
        pass


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def train_app(cfg: DictConfig):
    run_dir, choices, override_keys, multirun = _job_context()

    def job():
        from hydra.core.hydra_config import HydraConfig

        from nnml.config.rundir import record_resumed_config, resumed_config
        from nnml.run.launch import run_train  # one process, a torchrun rank, or the launcher of trainer.devices ranks

        job_cfg = cfg
        if cfg.get("resume"):
            job_cfg = resumed_config(cfg, list(HydraConfig.get().overrides.task))
            record_resumed_config(run_dir, job_cfg)
        else:
            job_cfg = trust_own_targets(cfg, run_dir)
        return run_train(job_cfg, run_dir, choices=choices, override_keys=override_keys)

    return run_guarded(job, run_dir, multirun)


def trust_own_targets(cfg, run_dir: Path):
    """A new run's config is the user's own (command line, ``-cd`` folder, packaged configs): its targets beyond
    torch./nnml. are trusted, and their prefixes are recorded in ``allowed_targets`` of the saved config, which is
    all that a later eval or resume of this folder will trust (nnml/config/targets.py)."""
    from nnml.config.targets import user_prefixes

    extra = user_prefixes(cfg, list(cfg.get("allowed_targets") or []))
    if not extra:
        return cfg
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.allowed_targets = [*list(cfg.get("allowed_targets") or []), *extra]
    saved = Path(run_dir) / ".hydra" / "config.yaml"
    if saved.is_file():
        from nnml.files import atomic_write_text

        atomic_write_text(saved, OmegaConf.to_yaml(cfg))
    return cfg


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


def run_cli_guarded(job) -> None:
    """For commands outside Hydra (eval, board, compare): NnmlError -> one line on stderr and its exit code."""
    try:
        job()
    except NnmlError as e:
        if debug():
            raise
        report_error(str(e))
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def lab_app(name: str, as_json: bool):
    """The Hydra entry of ``nnml lab NAME``: the lab's own config ``configs/lab/NAME.yaml`` as primary config."""
    from nnml.errors import bad_choice
    from nnml.lab import LABS

    if name not in LABS:
        raise bad_choice("lab", name, LABS)

    @hydra.main(version_base="1.3", config_path=config_dir(), config_name=f"lab/{name}")
    def app(cfg: DictConfig):
        from hydra.core.hydra_config import HydraConfig

        run_dir = Path(HydraConfig.get().runtime.output_dir)

        def job():
            import json

            from nnml.lab import run_lab
            from nnml.tracking.console import make_console, short_path

            numbers, table = run_lab(name, OmegaConf.to_container(cfg, resolve=True), run_dir)
            from nnml.tracking.runfiles import write_json_atomic

            write_json_atomic(run_dir / "results.json", numbers)
            console = make_console(stderr=as_json)
            console.print(table)
            console.print(f"results in {short_path(run_dir)}", soft_wrap=True, highlight=False)
            if as_json:
                print(json.dumps(numbers, default=str))

        return run_guarded(job, run_dir, multirun=False)

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
