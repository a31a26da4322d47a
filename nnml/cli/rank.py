"""One rank of a distributed run started by ``nnml train trainer.devices=N`` (:mod:`nnml.run.launch`): a process
entry point, ``python -m nnml.cli.rank RUN_DIR --launched``, that torchrun starts once per rank."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from omegaconf import OmegaConf

from nnml.errors import NnmlError
from nnml.run.launch import LAUNCH_FILE, rank_log, run_train

log = logging.getLogger("nnml")


def worker_main(argv=None) -> None:
    """``python -m nnml.cli.rank RUN_DIR --launched``: one rank of a run that :func:`nnml.run.launch.launch` started."""
    from nnml.engine.distributed import env_rank

    argv = sys.argv[1:] if argv is None else argv
    run_dir = Path(argv[0])
    launched = "--launched" in argv[1:]  # started by nnml train's own launcher, which reports error.txt itself
    from nnml.config.targets import Trust
    from nnml.run.train import RunContext

    # Written by this run's own launching process a moment ago (not a folder from elsewhere): its trust holds.
    saved = OmegaConf.load(run_dir / ".hydra" / LAUNCH_FILE)
    cfg = saved.config
    rank = env_rank()
    rank_log(run_dir, "train", rank)
    ctx = RunContext(run_dir=run_dir, trust=Trust(saved.trust.prefixes, saved.trust.targets),
                     choices=OmegaConf.to_container(saved.choices), overrides=list(saved.overrides),
                     swept=list(saved.swept), typed=OmegaConf.to_container(saved.typed),
                     parallel_jobs=int(saved.parallel_jobs), argv=list(saved.get("argv") or []),
                     cwd=str(saved.get("cwd") or ""), console=str(saved.get("console") or "full"))
    try:
        run_train(cfg, ctx, quiet=rank != 0)
    except NnmlError as e:
        log.error(str(e))
        if rank == 0:
            (run_dir / "error.txt").write_text(str(e) + "\n")
        if os.environ.get("NNML_DEBUG"):
            raise
        if not launched:
            print(f"error: {e}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None


if __name__ == "__main__":
    worker_main()
