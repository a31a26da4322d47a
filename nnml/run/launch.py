"""Many processes for one run: ``nnml train trainer.devices=N`` (and ``trainer.num_nodes``) through torchrun.

Flow: Hydra composes the config and creates the run folder once, in the process the user started. If the config
asks for more than one process and this process is not already a torchrun rank, :func:`run_train` saves the
composed config to ``.hydra/launch.yaml`` and starts ``python -m torch.distributed.run ... -m nnml.cli.rank RUN_DIR``;
every rank loads that same config and writes into that same folder (rank 0: TensorBoard, checkpoints,
metrics.json, ``<task>.log``; rank k: ``<task>_rank<k>.log`` only). ``torchrun ... -m nnml train ...`` started by hand
works too: each rank is then a Hydra job, and ranks other than 0 move into rank 0's folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from nnml.errors import NnmlError

log = logging.getLogger("nnml")

LAUNCH_FILE = "launch.yaml"


def world_of(cfg) -> tuple[int, int]:
    tr = cfg.trainer
    return int(tr.get("devices", 1) or 1), int(tr.get("num_nodes", 1) or 1)


def torchrun_args(cfg, run_dir: Path) -> list[str]:
    """The torch.distributed.run command line for this node."""
    tr = cfg.trainer
    nproc, nnodes = world_of(cfg)
    args = [f"--nproc_per_node={nproc}"]
    endpoint = tr.get("rdzv_endpoint")
    node_rank = tr.get("node_rank")
    rdzv_id = tr.get("rdzv_id")
    if nnodes > 1 and not endpoint:
        slurm = slurm_rendezvous(os.environ)  # inside a SLURM allocation (e.g. hydra/launcher=slurm): ask SLURM
        if slurm:
            endpoint, node_rank, rdzv_id = slurm["endpoint"], slurm["node_rank"], rdzv_id or slurm["job_id"]
    if nnodes == 1 and not endpoint:
        args.append("--standalone")  # localhost rendezvous on a free port: sweep jobs on one machine never clash
    else:
        if not endpoint:
            raise NnmlError(f"trainer.num_nodes={nnodes} needs trainer.rdzv_endpoint=HOST:PORT (a port on the first "
                            f"node that every node can reach), the same on every node")
        args += [f"--nnodes={nnodes}", f"--rdzv_backend={tr.get('rdzv_backend', 'c10d')}",
                 f"--rdzv_endpoint={endpoint}", f"--rdzv_id={rdzv_id or run_dir.name}"]
        if node_rank is not None:
            args.append(f"--node_rank={int(node_rank)}")
    if int(tr.get("max_restarts", 0) or 0):
        args.append(f"--max_restarts={int(tr.max_restarts)}")
    return args


SLURM_RDZV_PORT = 29400


def slurm_rendezvous(env) -> dict | None:
    """Rendezvous settings from a SLURM allocation: the first node of the job (``scontrol show hostnames``) on
    port 29400, this node's ``SLURM_NODEID`` and the job id. None outside SLURM or when scontrol is missing."""
    nodelist, job = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST"), env.get("SLURM_JOB_ID")
    if not nodelist or not job:
        return None
    try:
        hosts = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                               check=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if not hosts:
        return None
    return {"endpoint": f"{hosts[0]}:{SLURM_RDZV_PORT}", "node_rank": int(env.get("SLURM_NODEID", "0")),
            "job_id": f"slurm-{job}"}


def launch(cfg, ctx) -> dict:
    """Start the ranks of this node through torchrun, wait for them, and return rank 0's metrics. The ranks read
    the composed config and what the command said (the run context, its trust included) from
    ``.hydra/launch.yaml``, which this process wrote for them."""
    run_dir = Path(ctx.run_dir)
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    record = {"config": OmegaConf.to_container(cfg, resolve=True), "choices": dict(ctx.choices),
              "overrides": list(ctx.overrides), "swept": list(ctx.swept), "typed": dict(ctx.typed),
              "parallel_jobs": ctx.parallel_jobs, "argv": list(ctx.argv), "cwd": str(ctx.cwd), "console": ctx.console,
              "trust": {"prefixes": list(ctx.trust.prefixes), "targets": sorted(ctx.trust.targets)}}
    OmegaConf.save(OmegaConf.create(record), hydra_dir / LAUNCH_FILE)
    cmd = [sys.executable, "-m", "torch.distributed.run", *torchrun_args(cfg, run_dir), "-m", "nnml.cli.rank",
           str(run_dir), "--launched"]
    env = dict(os.environ)
    nproc, _ = world_of(cfg)
    threads = cfg.trainer.get("num_threads")
    if threads in (None, "auto", 0) and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))  # the cores shared among the ranks
    log.info("launching %s", " ".join(cmd))
    code = subprocess.call(cmd, env=env)
    if code != 0:
        err = run_dir / "error.txt"
        first = err.read_text().strip().splitlines()[0] if err.is_file() and err.read_text().strip() else ""
        raise LaunchFailed(first or f"distributed training failed (torchrun exit code {code}); see the "
                           f"*.log files in {run_dir}", exit_code=code if 0 < code < 128 else 1)
    metrics = run_dir / "metrics.json"
    return json.loads(metrics.read_text()) if metrics.is_file() else {}


class LaunchFailed(NnmlError):
    """A rank failed; it already wrote error.txt."""


def run_train(cfg, ctx, **kwargs) -> dict:
    """Train ``cfg`` into ``ctx.run_dir``: as one process, as this torchrun rank, or by launching the ranks."""
    from nnml.engine.distributed import in_torchrun
    from nnml.run.train import train

    nproc, nnodes = world_of(cfg)
    if in_torchrun():
        from nnml.engine.distributed import Dist

        dist = Dist.from_env(cfg.trainer.device, str(cfg.trainer.get("dist_backend", "auto")))
        try:
            ctx.run_dir = adopt_rank0_dir(dist, Path(ctx.run_dir), "train")
            return train(cfg, ctx, dist=dist, **kwargs)
        finally:
            dist.destroy()
    if nproc * nnodes > 1:
        return launch(cfg, ctx)
    return train(cfg, ctx, **kwargs)


def adopt_rank0_dir(dist, run_dir: Path, log_name: str) -> Path:
    """Every rank uses rank 0's run folder. With ``torchrun -m nnml train`` started by hand each rank resolved its
    own folder (``${now:...}`` and fresh-folder naming run per process): ranks other than 0 log into rank 0's folder
    and remove the one Hydra just made for them, which holds only ``.hydra/`` and a log file."""
    shared = Path(dist.broadcast_object(str(run_dir.resolve())))
    if dist.rank == 0 or shared == run_dir.resolve():
        return shared
    rank_log(shared, log_name, dist.rank)
    own = run_dir.resolve()
    if own.is_dir() and {p.name for p in own.iterdir()} <= {".hydra", f"{log_name}.log"}:
        shutil.rmtree(own, ignore_errors=True)
    return shared


def rank_log(run_dir: Path, log_name: str, rank: int) -> None:
    """Root logging to ``train.log`` (rank 0) or ``train_rank<k>.log`` in ``run_dir``, replacing file handlers."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, logging.FileHandler):
            root.removeHandler(h)
            h.close()
    name = f"{log_name}.log" if rank == 0 else f"{log_name}_rank{rank}.log"
    handler = logging.FileHandler(Path(run_dir) / name)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
