"""One training job inside Hydra, guarded: train (or resume) it under its folder's lock, and turn what stops it into
one line and an exit code: a user's error or a crash (``error.txt`` in the run folder, never in a finished run), a
full disk, Ctrl-C or SIGTERM. Used by the Hydra entry points (nnml/cli/entry.py) and a sweep's jobs
(nnml/cli/sweep_job.py)."""

from __future__ import annotations

import errno

from omegaconf import OmegaConf

from nnml.cli.report import Stopped, debug, report_error, stopped_note
from nnml.config.runfolder import RunFolder
from nnml.errors import NnmlError

_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


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


def disk_error(e: BaseException) -> NnmlError:
    """One line for a write that failed for lack of space or permission, naming the path."""
    path = getattr(e, "filename", None) or "a run file"
    reason = getattr(e, "strerror", None) or "No space left on device"
    return NnmlError(f"could not write {path}: {reason}; free disk space or choose another output folder "
                     f"with hydra.run.dir=... (checkpoints and results written before are kept)", exit_code=1)


def _is_disk_full(e: BaseException) -> bool:
    """torch.save raises RuntimeError ('[enforce fail at inline_container.cc] ... unexpected pos') when the disk
    fills; the OSError underneath is lost, so the message is all there is."""
    text = str(e)
    return isinstance(e, RuntimeError) and ("unexpected pos" in text or "No space left" in text)


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
    """Train one run (or resume it: ``cfg.resume``) into ``run``, under its lock. ``resume_overrides``: what a
    resume may change of the saved config (default: the job's overrides, each checked by the resume rule)."""
    from nnml.config.targets import Trust
    from nnml.engine.distributed import env_rank, in_torchrun
    from nnml.run.launch import run_train

    lock = None if in_torchrun() and env_rank() != 0 else run.lock()  # one writer per run folder
    try:
        run.remove_temp_files()  # what killed writes left: never results
        if cfg.get("resume"):
            from nnml.config.resume import record_resumed_config, resumed_config

            given = ctx.overrides if resume_overrides is None else resume_overrides
            # What this command names (allowed_targets=[...], or the options of its own -cd folder) is trusted
            job_cfg, ctx.trust, _ = resumed_config(cfg, given, allow=Trust.own(cfg).prefixes)
            record_resumed_config(run, job_cfg)  # the resume was accepted: now its config may be written
        else:
            job_cfg = record_own_targets(cfg, run)
            ctx.trust = Trust.own(job_cfg)
        run.clear_error()  # a resumed run clears its old failure
        return run_train(job_cfg, ctx)
    finally:
        if lock is not None:
            lock.release()


def record_own_targets(cfg, run: RunFolder):
    """A new run's config is the user's own (command line, ``-cd`` folder, packaged configs): the module prefixes of
    its targets beyond torch./nnml. are recorded in ``allowed_targets`` of the saved config. A later eval or resume
    does not trust that list (it is data in a folder); its refusal names the prefix to give on the command line."""
    from nnml.config.targets import user_prefixes

    given = list(cfg.get("allowed_targets") or [])
    extra = [p for p in user_prefixes(cfg) if p not in given]
    if not extra:
        return cfg
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.allowed_targets = [*given, *extra]
    if run.config_file.is_file():
        from nnml.files import atomic_write_text

        atomic_write_text(run.config_file, OmegaConf.to_yaml(cfg))
    return cfg
