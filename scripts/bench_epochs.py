"""nnml's training epoch against a plain epoch on the same model, optimizer and tensors, alternating in one process.

``bench.py`` races whole runs (fresh set-up, validation, logging, checkpoints between the timed epochs), so a
pair's ratio also carries what the process did between epochs and how busy the machine was; its pairs spread over
±10-30% on the shared machine. Here one ``nnml.run.train.train`` builds everything, then its ``Trainer._train_epoch``
(nnml's loop, the task's step with its metrics, the optimizer slots, the NaN check, the epoch's metric read) and a
plain epoch take turns on the same modules for ``--reps`` rounds. The plain epoch is the task's hand-written loop
of ``bench_tasks.py`` (``for batch in ...: loss.backward(); opt.step()``), built on the trainer's own modules,
optimizers and batch source. Same process, same heap, same caches: the median of the per-round ratios is what
nnml's per-step and per-epoch work costs, to about half a percent. No validation, logging or checkpoints run
between epochs on either side. The two sides train the same weights in turn, so neither ends where a run would.

    python scripts/bench_epochs.py --batch-size 128 --reps 300               # the digits MLP (supervised_b128)
    python scripts/bench_epochs.py --task gan --reps 60
    python scripts/bench_epochs.py --task vae,recsys_bpr --reps 100 --threads auto
    python scripts/bench_epochs.py --batch-size 1024 --override trainer.layer_stats=false

The last line printed is JSON: ``{"tasks": {name: {"ratio": ..., "nnml_ms_per_epoch": ..., ...}}}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "scripts")):
    if _p not in sys.path:
        sys.path.insert(0, _p)


class _Done(Exception):
    pass


def race(batch_size: int | None, reps: int, overrides: list[str], task: str = "supervised_b128",
         threads: str = "1") -> dict:
    """``reps`` rounds of one nnml epoch and one plain epoch of ``task`` (a name of ``bench_tasks.TASKS``), who
    goes first alternating; ``batch_size`` (when given) overrides the dataset's."""
    import bench_tasks
    import torch

    from nnml.config.targets import Trust
    from nnml.engine import loop
    from nnml.engine.signals import SignalGuard
    from nnml.run.train import RunContext, train

    times: dict[str, list[float]] = {"nnml": [], "plain": []}
    info: dict = {}

    def fit(trainer):  # stands in for Trainer.fit: the trainer is fully built here
        task_, st = trainer.task, trainer.state
        plain = getattr(bench_tasks, bench_tasks.TASKS[task].plain)(task_, trainer.train_batches, trainer.device)
        guard = SignalGuard(None)
        trainer._auto_slot = loop.auto_slot(task_)
        trainer.callbacks.on_fit_start(st)
        for m in task_.modules.values():
            m.train()
        info["threads"], info["steps_per_epoch"] = torch.get_num_threads(), trainer.train_batches.batches_per_epoch(1)
        for r in range(reps):
            for side in (("plain", "nnml") if r % 2 else ("nnml", "plain")):  # who goes first alternates
                t0 = time.perf_counter()
                if side == "nnml":
                    trainer._train_epoch(guard)
                    st.epoch, st.step_in_epoch = st.epoch + 1, 0
                else:
                    plain(r)
                bench_tasks.sync(trainer.device)
                times[side].append(time.perf_counter() - t0)
        raise _Done

    extra = [o for o in bench_tasks.TASKS[task].overrides if not o.startswith("trainer.max_epochs=")]
    if batch_size:
        extra.append(f"dataset.batch_size={batch_size}")
    cfg = bench_tasks.compose(task, threads, "cpu", [*extra, "logger=none", "trainer.max_epochs=1000000",
                                                      *overrides])
    if threads != "auto":
        torch.set_num_threads(int(threads))
    original = loop.Trainer.fit
    loop.Trainer.fit = fit
    try:
        with tempfile.TemporaryDirectory(prefix="nnml-bench-epochs-") as d:
            train(cfg, RunContext(run_dir=Path(d), trust=Trust.own(cfg)), quiet=True)
    except _Done:
        pass
    finally:
        loop.Trainer.fit = original
    warm = min(5, reps // 10)  # the first rounds warm the allocator and caches
    n, p = times["nnml"][warm:], times["plain"][warm:]
    ratios = [b / a for a, b in zip(n, p)]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"task": task, "batch_size": int(cfg.dataset.batch_size), "threads": info["threads"],
            "steps_per_epoch": info["steps_per_epoch"], "rounds": len(ratios), "overrides": overrides,
            "nnml_ms_per_epoch": round(statistics.median(n) * 1e3, 3),
            "plain_ms_per_epoch": round(statistics.median(p) * 1e3, 3),
            # nnml / plain in throughput: plain epoch time over nnml's, per round, then the median
            "ratio": round(statistics.median(ratios), 4), "ratio_quartiles": [round(q[0], 4), round(q[2], 4)]}


def main(argv=None):
    import bench_tasks

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="supervised_b128",
                    help=f"comma-separated tasks of bench_tasks.py: {', '.join(bench_tasks.TASKS)}")
    ap.add_argument("--batch-size", type=int, default=None, help="the dataset's batch size (default: the task's)")
    ap.add_argument("--reps", type=int, default=300, help="alternating rounds (one nnml epoch, one plain epoch)")
    ap.add_argument("--threads", default="1", help="torch threads: a number, or auto (nnml's choice, both sides)")
    ap.add_argument("--override", action="append", default=[], help="extra nnml override, e.g. trainer.layer_stats=false")
    args = ap.parse_args(argv)
    names = [t.strip() for t in args.task.split(",") if t.strip()]
    unknown = [t for t in names if t not in bench_tasks.TASKS]
    if unknown:
        ap.error(f"--task {','.join(unknown)} is not a task; choose from: {', '.join(bench_tasks.TASKS)}")
    results = {}
    for name in names:
        results[name] = race(args.batch_size, args.reps, args.override, name, args.threads)
        print(f"{name:22s} ratio {results[name]['ratio']:.4f}  quartiles {results[name]['ratio_quartiles']}  "
              f"nnml {results[name]['nnml_ms_per_epoch']} ms / plain {results[name]['plain_ms_per_epoch']} ms "
              f"an epoch ({results[name]['steps_per_epoch']} steps, {results[name]['threads']} thread(s))",
              flush=True)
    print(json.dumps({"tasks": results}))
    return results


if __name__ == "__main__":
    main()
