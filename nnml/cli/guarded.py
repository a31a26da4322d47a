"""One training job inside Hydra, guarded: train (or resume) it under its folder's lock, and turn what stops it into
one line and an exit code: a user's error or a crash (``error.txt`` in the run folder, never in a finished run), a
full disk, Ctrl-C or SIGTERM. Used by the Hydra entry points (nnml/cli/entry.py) and a sweep's jobs
(nnml/cli/sweep_job.py)."""

from __future__ import annotations

from nnml.cli.report import Stopped, debug, report_error, stopped_note
from nnml.config.runfolder import RunFolder
from nnml.errors import NnmlError
from nnml.run.job import DISK_ERRNOS as _DISK_ERRNOS
from nnml.run.job import disk_error
from nnml.run.job import is_disk_full as _is_disk_full


def run_guarded(job, run: RunFolder, multirun: bool, resumed: bool = False, in_process: bool = True):
    """Run ``job()``; a user error or crash becomes one line on stderr and ``error.txt`` in the run folder (never in
    a run that had finished: a failed extension of it is reported, the run keeps its result). In a sweep the job
    returns None instead of exiting, so the other jobs go on. A signal ends the command (130 or 143), except for a
    sweep job running in another process than the command (joblib, submitit): it returns None and the command, which
    got the signal too, ends the sweep."""
    from nnml.engine.loop import Interrupted
    from nnml.sweep.jobs import STOPPED

    goes_on = multirun and not in_process
    try:
        return job()
    except Interrupted as e:  # asked for (Ctrl-C, a scheduler's SIGTERM): a note, not an error
        how = "Ctrl-C" if e.args[0] == "SIGINT" else e.args[0]
        if multirun:
            stopped_note(f"{run.path.name} by {how}; saved {e.checkpoint} (the sweep resumes it when continued)")
        else:
            stopped_note(f"by {how}; saved {e.checkpoint}. Resume with:\n  nnml train resume={_quoted(run.path)}")
        if goes_on:
            return None
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        run.write_error(f"{STOPPED}Ctrl-C before it finished")  # the folder says why it is incomplete
        report_error(f"{run.path.name + ' ' if multirun else ''}stopped at once by Ctrl-C; the last saved checkpoint "
                     f"(if any) is kept")
        if goes_on:
            return None
        raise SystemExit(130) from None
    except Stopped as e:
        run.write_error(f"{STOPPED}{e.name} before it finished")
        report_error(f"{run.path.name + ' ' if multirun else ''}stopped by {e.name}; the last saved checkpoint (if "
                     f"any) is kept")
        if goes_on:
            return None
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
    report_error(f"{run.path.name} failed: {e}" if multirun else str(e))
    if multirun:
        return None
    raise SystemExit(e.exit_code) from None


def _crash(e: Exception, run: RunFolder, multirun: bool):
    run.write_error(f"{type(e).__name__}: {e}")
    if debug():
        raise e
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    report_error(f"{run.path.name + ' failed: ' if multirun else ''}{type(e).__name__}: {first} (set NNML_DEBUG=1 "
                 f"for the traceback)")
    if multirun:
        return None
    raise SystemExit(1) from None


def _quoted(path) -> str:
    """A path as a shell argument: sweep job folders hold '=' and ',' (``optimizer=adam,seed=1``)."""
    import shlex

    return shlex.quote(str(path))


def train_job(cfg, run: RunFolder, ctx, resume_overrides: list[str] | None = None):
    """Train one run (or resume it: ``cfg.resume``) into ``run`` (:func:`nnml.run.job.train_in_folder`).
    ``resume_overrides``: what a resume may change of the saved config (default: the job's overrides, each checked
    by the resume rule)."""
    from nnml.run.job import train_in_folder

    return train_in_folder(cfg, ctx, run, resume_overrides=resume_overrides)
