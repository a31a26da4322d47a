"""Measurements: FLOPs in closed form, parameter counts, latency statistics (their shape, never their values)."""

from __future__ import annotations

import torch
from torch import nn

from nnml.accelerate import measure


def test_conv_flops_closed_form():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    # each of 8 x 10 x 10 outputs is a dot product of length 3 x 3 x 3
    assert measure.count_flops(conv, torch.zeros(1, 3, 10, 10)) == 2 * 8 * 10 * 10 * 27


def test_parameter_counts_include_zeros_separately():
    lin = nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight[0].zero_()
    assert measure.count_parameters(lin) == {"params": 15, "nonzero": 15 - 4}


def test_latency_statistics_are_ordered_and_counted():
    calls = {"a": 0, "b": 0}

    def run(name):
        calls[name] += 1

    stats = measure.latencies({"a": lambda: run("a"), "b": lambda: run("b")}, repeats=20, warmup=3, rounds=4)
    assert calls == {"a": 23, "b": 23}
    for s in stats.values():
        assert s["n"] == 20 and s["min_ms"] <= s["median_ms"] <= s["p95_ms"] <= s["max_ms"]
        assert s["cpu_median_ms"] >= 0


def test_batch_of_repeats_rows_when_short():
    x = torch.arange(3.0).reshape(3, 1)
    assert measure.batch_of(x, 5).flatten().tolist() == [0, 1, 2, 0, 1]
    assert measure.batch_of(x, 2).shape == (2, 1)
