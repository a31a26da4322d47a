"""nnml's training epoch against a plain epoch on the same model, optimizer and tensors, alternating in one process.

``bench.py`` races whole runs (fresh set-up, validation, logging, checkpoints between the timed epochs), so a
pair's ratio also carries what the process did between epochs and how busy the machine was; its pairs spread over
±10% on the shared machine. Here one ``nnml.run.train.train`` builds everything, then its ``Trainer._train_epoch``
(nnml's loop, the task's step with its metrics, the optimizer slot, the NaN check, the epoch's metric read) and a
plain epoch (``for idx in randperm: loss.backward(); opt.step()``) take turns on the same model for ``--reps``
rounds. Same process, same heap, same caches: the median ratio is what nnml's per-step and per-epoch work costs,
to a few tenths of a percent. No validation, logging or checkpoints run between epochs on either side.

    python scripts/bench_epochs.py --batch-size 128 --reps 300
    python scripts/bench_epochs.py --batch-size 1024 --override trainer.layer_stats=false
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
sys.path.insert(0, str(ROOT))


class _Done(Exception):
    pass


def race(batch_size: int, reps: int, overrides: list[str]) -> dict:
    import torch

    from nnml.config.compose import compose_train
    from nnml.config.targets import Trust
    from nnml.engine import loop
    from nnml.engine.signals import SignalGuard
    from nnml.run.train import RunContext, train

    torch.set_num_threads(1)
    times: dict[str, list[float]] = {"nnml": [], "plain": []}

    def fit(trainer):  # stands in for Trainer.fit: the trainer is fully built here
        task = trainer.task
        model, opt = task.modules["model"], task.slots["model"].optimizer
        x, y = trainer.train_batches.tensors
        loss_fn = torch.nn.CrossEntropyLoss()
        guard = SignalGuard(None)
        trainer._auto_slot = loop.auto_slot(task)
        trainer.callbacks.on_fit_start(trainer.state)

        def plain(epoch):
            perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch))
            for i in range(0, len(y), batch_size):
                idx = perm[i:i + batch_size]
                loss = loss_fn(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        for r in range(reps):
            for side in (("plain", "nnml") if r % 2 else ("nnml", "plain")):  # who goes first alternates
                t0 = time.perf_counter()
                if side == "nnml":
                    trainer._train_epoch(guard)
                    trainer.state.epoch, trainer.state.step_in_epoch = trainer.state.epoch + 1, 0
                else:
                    plain(r)
                times[side].append(time.perf_counter() - t0)
        raise _Done

    cfg = compose_train(["dataset=digits", "model=mlp", f"dataset.batch_size={batch_size}", "logger=none",
                         "trainer.num_threads=1", "trainer.max_epochs=1000000", *overrides])
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
    q = statistics.quantiles(ratios, n=4)
    return {"batch_size": batch_size, "rounds": len(ratios), "overrides": overrides,
            "nnml_ms_per_epoch": round(statistics.median(n) * 1e3, 3),
            "plain_ms_per_epoch": round(statistics.median(p) * 1e3, 3),
            # nnml / plain in throughput: plain epoch time over nnml's, per round, then the median
            "ratio": round(statistics.median(ratios), 4), "ratio_quartiles": [round(q[0], 4), round(q[2], 4)]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--reps", type=int, default=300, help="alternating rounds (one nnml epoch, one plain epoch)")
    ap.add_argument("--override", action="append", default=[], help="extra nnml override, e.g. trainer.layer_stats=false")
    args = ap.parse_args(argv)
    result = race(args.batch_size, args.reps, args.override)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
