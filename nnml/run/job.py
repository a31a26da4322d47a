"""One training job in its claimed run folder, as ``nnml train``'s Hydra job and the Python API's ``nnml.train``
both run it: the folder's lock (one writer), the config as it will be recorded and the targets it may name, then
the run (:func:`nnml.run.launch.run_train`). Also the one line a failed write becomes. Nothing here prints.
"""

from __future__ import annotations

import errno

from omegaconf import OmegaConf

from nnml.config.runfolder import RunFolder
from nnml.errors import NnmlError

DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def train_in_folder(cfg, ctx, run: RunFolder, resume_overrides: list[str] | None = None, **train_kwargs) -> dict:
    """Train ``cfg`` into ``run`` (``ctx.run_dir``) and return its final metrics. A new run's config is the user's
    own: its module prefixes beyond torch./nnml. are recorded and trusted; a resumed run's config is read back from
    its folder under the trust rule, with what this command allows (``allowed_targets=[...]``, its ``-cd``
    folder's options) and the overrides it may change (``resume_overrides``; default: the job's own, each checked by
    the resume rule). ``train_kwargs``: ``console``, ``quiet``, ``callbacks`` for the run."""
    from nnml.config.targets import Trust
    from nnml.engine.distributed import env_rank, in_torchrun
    from nnml.run.launch import run_train

    lock = None if in_torchrun() and env_rank() != 0 else run.lock()
    try:
        run.remove_temp_files()  # what killed writes left: never results
        if cfg.get("resume"):
            from nnml.config.resume import record_resumed_config, resumed_config

            given = ctx.overrides if resume_overrides is None else resume_overrides
            job_cfg, ctx.trust, _ = resumed_config(cfg, given, allow=Trust.own(cfg).prefixes)
            record_resumed_config(run, job_cfg)  # the resume was accepted: now its config may be written
        else:
            job_cfg = record_own_targets(cfg, run)
            ctx.trust = Trust.own(job_cfg)
        run.clear_error()  # a resumed run clears its old failure
        return run_train(job_cfg, ctx, **train_kwargs)
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


def disk_error(e: BaseException) -> NnmlError:
    """One line for a write that failed for lack of space or permission, naming the path."""
    path = getattr(e, "filename", None) or "a run file"
    reason = getattr(e, "strerror", None) or "No space left on device"
    return NnmlError(f"could not write {path}: {reason}; free disk space or choose another output folder "
                     f"with hydra.run.dir=... (checkpoints and results written before are kept)", exit_code=1)


def is_disk_full(e: BaseException) -> bool:
    """torch.save raises RuntimeError ('[enforce fail at inline_container.cc] ... unexpected pos') when the disk
    fills; the OSError underneath is lost, so the message is all there is."""
    text = str(e)
    return isinstance(e, RuntimeError) and ("unexpected pos" in text or "No space left" in text)


def as_error(e: BaseException) -> NnmlError:
    """The one-line error a run's failure is reported as (and written to error.txt)."""
    if isinstance(e, NnmlError):
        return e
    if (isinstance(e, OSError) and e.errno in DISK_ERRNOS) or is_disk_full(e):
        return disk_error(e)
    text = str(e).strip()
    return NnmlError(f"{type(e).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": "), exit_code=1)
