"""Whole-process time of the default ``nnml train`` against the plain script doing the same work
(scripts/plain_train.py), and where nnml's extra time goes. Every command is a fresh ``python`` process; the
commands alternate (the order reverses every repeat) and medians are reported.

    python scripts/wall_time.py --repeats 10 [--threads 1] [--extra logger.tensorboard.figures=false]

Commands: ``python -c pass`` (interpreter start), ``nnml --help``, ``nnml train --cfg job`` (imports of the CLI and
Hydra, the precheck and composition, no torch), the default ``nnml train``, the same with ``logger=none`` (no
TensorBoard, no figures), and the plain script with and without TensorBoard. The parts are differences of medians:

- cli_and_composition: ``--cfg job`` minus interpreter start
- tensorboard_and_figures: ``nnml train`` minus ``nnml train logger=none``
- plain_tensorboard: the plain script minus the plain script without TensorBoard
- nnml_rest: what nnml costs beyond the plain script that is neither of the above

Both wall time and CPU time (user + system of the child) are reported: on a machine that others load, CPU time
moves much less than wall time. Prints one JSON object; runs in a temp folder, so nothing lands in outputs/ here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd, cwd, env) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--extra", action="append", default=[], help="extra override for nnml train")
    p.add_argument("--quick", action="store_true", help="only nnml train and the plain script")
    args = p.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               MPLBACKEND="Agg")
    py = sys.executable
    train = [py, "-m", "nnml", "train", f"trainer.num_threads={args.threads}", *args.extra]
    plain = [py, str(ROOT / "scripts" / "plain_train.py"), "OUT", "--threads", str(args.threads)]
    cmds = {
        "python": [py, "-c", "pass"],
        "help": [py, "-m", "nnml", "--help"],
        "cfg_job": [py, "-m", "nnml", "train", "--cfg", "job"],
        "nnml_train": train,
        "nnml_train_no_logger": [*train, "logger=none"],
        "plain_train": plain,
        "plain_train_no_tb": [*plain, "--no-tensorboard"],
    }
    if args.quick:
        cmds = {k: cmds[k] for k in ("nnml_train", "plain_train")}
    wall: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="nnml-wall-") as d:
        for r in range(args.repeats):
            order = list(cmds) if r % 2 == 0 else list(reversed(cmds))
            for name in order:
                cmd = [c if c != "OUT" else str(Path(d) / f"plain{r}{name}") for c in cmds[name]]
                w, c = timed(cmd, d, env)
                wall[name].append(w)
                cpu[name].append(c)
            print(f"repeat {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s/{cpu[k][-1]:.2f}cpu" for k, v in wall.items()),
                  file=sys.stderr)
    med = {k: round(statistics.median(v), 3) for k, v in wall.items()}
    med_cpu = {k: round(statistics.median(v), 3) for k, v in cpu.items()}

    def parts(m):
        if args.quick:
            return {}
        return {
            "cli_and_composition": round(m["cfg_job"] - m["python"], 3),
            "tensorboard_and_figures": round(m["nnml_train"] - m["nnml_train_no_logger"], 3),
            "plain_tensorboard": round(m["plain_train"] - m["plain_train_no_tb"], 3),
            "nnml_over_plain": round(m["nnml_train"] - m["plain_train"], 3),
        }

    out = {
        "median_wall_s": med,
        "median_cpu_s": med_cpu,
        "train_wall_ratio": round(med["nnml_train"] / med["plain_train"], 3),
        "train_cpu_ratio": round(med_cpu["nnml_train"] / med_cpu["plain_train"], 3),
        "parts_wall_s": parts(med),
        "parts_cpu_s": parts(med_cpu),
        "all_wall_s": {k: [round(x, 3) for x in v] for k, v in wall.items()},
        "threads": args.threads, "extra": args.extra, "cores": os.cpu_count(),
        "loadavg_before": load_before, "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
