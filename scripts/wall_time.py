"""Whole-process wall time: ``nnml --help``, ``nnml train --cfg job``, default ``nnml train`` and the plain script
doing the same work (scripts/plain_train.py), each a fresh ``python`` process, alternating, medians.

    python scripts/wall_time.py --repeats 10 [--threads 1] [--extra logger.tensorboard.figures=false]

Prints one JSON object. Runs in a temp folder, so nothing lands in outputs/ here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd, cwd, env) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return dt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--extra", action="append", default=[], help="extra override for nnml train")
    args = p.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               MPLBACKEND="Agg")
    py = sys.executable
    cmds = {
        "help": [py, "-m", "nnml", "--help"],
        "cfg_job": [py, "-m", "nnml", "train", "--cfg", "job"],
        "nnml_train": [py, "-m", "nnml", "train", f"trainer.num_threads={args.threads}", *args.extra],
        "plain_train": [py, str(ROOT / "scripts" / "plain_train.py"), "OUT", "--threads", str(args.threads)],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    with tempfile.TemporaryDirectory(prefix="nnml-wall-") as d:
        for r in range(args.repeats):
            order = list(cmds) if r % 2 == 0 else list(reversed(cmds))
            for name in order:
                cmd = [c if c != "OUT" else str(Path(d) / f"plain{r}") for c in cmds[name]]
                times[name].append(timed(cmd, d, env))
            print(f"repeat {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)
    med = {k: round(statistics.median(v), 3) for k, v in times.items()}
    out = {
        "median_s": med,
        "all_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "train_wall_ratio": round(med["nnml_train"] / med["plain_train"], 3),
        "threads": args.threads, "extra": args.extra, "cores": os.cpu_count(),
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
