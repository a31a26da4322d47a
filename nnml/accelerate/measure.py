"""Measurements of a variant: bytes on disk, parameters, MACs (from torch.utils.flop_counter) and latency.

Latency on a shared machine is noisy, so :func:`latencies` times all variants in interleaved rounds (each round
runs every variant a few times, so a burst of load hits all of them alike), after warm-up calls, with the thread
count fixed, and reports the median, the 95th percentile and the spread (min, max, interquartile range) of the
wall-clock time. It also records the median CPU time of the process per call (``time.process_time``): on a
machine shared with other jobs, wall-clock times of calls longer than a scheduler slice grow with the load, while
CPU time stays close to what the call costs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def file_size(files) -> int:
    return sum(Path(f).stat().st_size for f in files if Path(f).is_file())


def count_parameters(model: nn.Module) -> dict:
    """Parameter count and nonzero count (pruning zeroes weights without removing them)."""
    total = nonzero = 0
    for p in model.state_dict().values():
        if isinstance(p, torch.Tensor) and p.is_floating_point():
            total += p.numel()
            nonzero += int(torch.count_nonzero(p))
    return {"params": total, "nonzero": nonzero}


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass on ``x`` as torch.utils.flop_counter counts them (2 per multiply-accumulate of
    matmuls and convolutions; elementwise ops are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def _stats(ms: list[float]) -> dict:
    s = sorted(ms)
    q = statistics.quantiles(s, n=20, method="inclusive")  # 5% steps: q[18] is the 95th percentile
    quart = statistics.quantiles(s, n=4, method="inclusive")
    return {"median_ms": statistics.median(s), "p95_ms": q[18], "min_ms": s[0], "max_ms": s[-1],
            "iqr_ms": quart[2] - quart[0], "n": len(s)}


def latencies(runners: dict[str, Callable[[], object]], repeats: int = 50, warmup: int = 5,
              rounds: int = 5) -> dict[str, dict]:
    """Time each zero-argument callable ``repeats`` times in total, interleaved over ``rounds`` rounds, after
    ``warmup`` untimed calls each. Returns name -> statistics in milliseconds."""
    with torch.inference_mode():
        for fn in runners.values():
            for _ in range(warmup):
                fn()
        times: dict[str, list[float]] = {k: [] for k in runners}
        cpu: dict[str, list[float]] = {k: [] for k in runners}
        per_round = max(1, -(-repeats // rounds))
        for _ in range(rounds):
            for name, fn in runners.items():
                for _ in range(per_round):
                    c0, t0 = time.process_time(), time.perf_counter()
                    fn()
                    times[name].append((time.perf_counter() - t0) * 1000.0)
                    cpu[name].append((time.process_time() - c0) * 1000.0)
    n = max(repeats, 2)
    return {k: {**_stats(v[:n]), "cpu_median_ms": statistics.median(cpu[k][:n])} for k, v in times.items()}


def batch_of(x: torch.Tensor, size: int) -> torch.Tensor:
    """``size`` rows from ``x`` (repeated when ``x`` has fewer)."""
    if len(x) >= size:
        return x[:size].contiguous()
    reps = -(-size // len(x))
    return x.repeat(reps, *([1] * (x.dim() - 1)))[:size].contiguous()
