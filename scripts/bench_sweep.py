"""Time a 4-job sweep run one job at a time against the same sweep with 2 jobs at once (hydra/launcher=parallel),
on 2 cores, in one benchmark run: python scripts/bench_sweep.py [--epochs 20] [--repeats 2]

Each sweep is a fresh ``python -m nnml train -m ...`` process in a temp folder, pinned to the first 2 cores; torch
threads are left on ``auto`` (2 threads sequentially, 1 per job in parallel). Prints each time and the ratio."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["optimizer=sgd,momentum,adam,adamw", "trainer.device=cpu"]


def run(extra: list[str], epochs: int, cores: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    for k in ("OMP_NUM_THREADS", "NNML_PARALLEL_JOBS"):
        env.pop(k, None)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "nnml", "train", "-m", *extra, *SWEEP, f"trainer.max_epochs={epochs}"]
        pin = (lambda: os.sched_setaffinity(0, set(range(cores)))) if hasattr(os, "sched_setaffinity") else None
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, preexec_fn=pin)
        dt = time.perf_counter() - t0
        if proc.returncode:
            sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args()
    seq, par = [], []
    for _ in range(a.repeats):  # interleaved, so a noisy moment hurts both alike
        seq.append(run([], a.epochs, a.cores))
        par.append(run(["hydra/launcher=parallel", "hydra.launcher.n_jobs=2"], a.epochs, a.cores))
    s, p = statistics.median(seq), statistics.median(par)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"4-job digits sweep, {a.epochs} epochs, {a.cores} cores, {a.repeats} repeats (load avg at end {load:.2f})")
    print(f"sequential: {s:.1f} s  {[round(x, 1) for x in seq]}")
    print(f"parallel 2: {p:.1f} s  {[round(x, 1) for x in par]}")
    print(f"speed-up:   {s / p:.2f}x")


if __name__ == "__main__":
    main()
