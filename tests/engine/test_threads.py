"""trainer.num_threads=auto: the rule (work per step, the cores other processes leave free), the measurement of
other processes' CPU use, and the governor that gives up threads when other processes take cores mid-run."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from nnml.engine import cpuload
from nnml.engine.device import THREADS_MIN_FLOPS, ThreadGovernor, auto_threads, fit_threads


@pytest.mark.parametrize("cores, others, usable, want", [
    (2, 0.0, None, 2), (2, 0.4, None, 2), (2, 0.6, None, 1), (2, 1.9, None, 1), (2, 3.0, None, 1),
    (8, 3.2, None, 5), (4, 12.0, 16, 4), (4, 13.6, 16, 2), (4, 15.9, 16, 1),  # a sweep's siblings are expected
])
def test_fit_threads_gives_what_others_leave_free(cores, others, usable, want):
    assert fit_threads(cores, others, usable) == want


def test_auto_rule():
    big = 10 * THREADS_MIN_FLOPS
    assert auto_threads(big, 1, 0.0) == (1, "auto: 100 MFLOP per step, 1 core for this job")
    assert auto_threads(THREADS_MIN_FLOPS / 2, 2, 0.0)[0] == 1
    assert "small work" in auto_threads(THREADS_MIN_FLOPS / 2, 2, 0.0)[1]
    assert auto_threads(big, 2, 0.1) == (2, "auto: 100 MFLOP per step, 2 cores free")
    assert auto_threads(big, 2, 1.0) == (1, "auto: 100 MFLOP per step, but other processes use 1.0 of 2 cores")
    # Without /proc/stat, the 1-minute load average (which counts this process) decides.
    assert auto_threads(big, 2, None, load=0.9)[0] == 2
    assert auto_threads(big, 2, None, load=1.8) == (1, "auto: 100 MFLOP per step, but the machine is busy (load 1.8 on 2 cores)")


def test_others_cores_subtracts_this_process(monkeypatch):
    """Others' cores = (busy time of our CPUs - our own CPU time) / wall time, over the window."""
    clock = {"t": 100.0, "busy": 1000.0, "own": 5.0}
    monkeypatch.setattr(cpuload.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(cpuload, "_busy_seconds", lambda cpus: clock["busy"])
    monkeypatch.setattr(cpuload, "_own_seconds", lambda: clock["own"])
    window = cpuload.CpuWindow()
    clock.update(t=102.0, busy=1003.0, own=6.8)  # 2 s: 3 busy core-seconds, 1.8 of them ours
    assert window.others_cores() == pytest.approx(0.6)
    clock.update(t=104.0, busy=1004.0, own=9.0)  # our own use alone: never below 0
    assert window.others_cores() == 0.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_a_busy_process_is_seen():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        others = cpuload.CpuWindow().others_cores(1.5)
    finally:
        busy.kill()
        busy.wait()
    # The loop holds about a core (less when this machine is shared: then others use the rest).
    assert others is not None and others >= 0.5, others


def test_governor_gives_up_threads_when_others_take_cores(monkeypatch):
    before = torch.get_num_threads()
    seen = {"others": 1.2}
    monkeypatch.setattr(cpuload.CpuWindow, "age", lambda self: 2.0)
    monkeypatch.setattr(cpuload.CpuWindow, "others_cores", lambda self, min_window=0.25: seen["others"])
    try:
        torch.set_num_threads(2)
        gov = ThreadGovernor(cores=2, usable=2)
        seen["others"] = 0.2
        assert gov.after_epoch() is None and torch.get_num_threads() == 2  # cores free: keep both
        seen["others"] = 1.2
        note = gov.after_epoch()
        assert torch.get_num_threads() == 1
        assert note == ("threads 2 -> 1: other processes now use 1.2 of 2 cores (trainer.num_threads=auto; set a "
                        "number to keep it fixed)")
        seen["others"] = 0.0
        assert gov.after_epoch() is None and torch.get_num_threads() == 1  # never back up
    finally:
        torch.set_num_threads(before)


def test_governor_waits_for_a_second_of_measurement(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(cpuload.CpuWindow, "age", lambda self: 0.3)
    monkeypatch.setattr(cpuload.CpuWindow, "others_cores", lambda self, min_window=0.25: 2.0)
    try:
        torch.set_num_threads(2)
        assert ThreadGovernor(cores=2).after_epoch() is None and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_loop_reports_the_governors_change(train_in_process, monkeypatch):
    """A run's governor is asked after every epoch; what it changed is a note on the console and in the log."""
    import nnml.run.train

    calls = []

    class Stub:
        def after_epoch(self):
            calls.append(1)
            return "threads 2 -> 1: other processes now use 1.0 of 2 cores" if len(calls) == 1 else None

    monkeypatch.setattr(nnml.run.train, "governor_for", lambda num_threads, threads, parallel_jobs=1: Stub())
    result, run = train_in_process("trainer.max_epochs=3")
    assert result.exit_code == 0, result.output
    assert len(calls) == 3
    assert "note: threads 2 -> 1: other processes now use 1.0 of 2 cores" in result.output
    assert "note: threads 2 -> 1" in (run / "train.log").read_text()


def test_segments_record_the_thread_count(train_in_process):
    import json

    result, run = train_in_process()
    assert result.exit_code == 0, result.output
    assert json.loads((run / "metrics.json").read_text())["segments"][-1]["threads"] == 1



def test_step_flops_counts_recurrent_layers():
    """Recurrent layers count too (a BiLSTM tagger's work is mostly its LSTM): per token, layer and direction,
    2 x gates x hidden x (input + hidden), times 3 for forward and backward; packed sequences count their tokens."""
    from torch import nn

    from nnml.engine.device import step_flops

    lstm = nn.LSTM(64, 128, batch_first=True, bidirectional=True)
    assert step_flops([lstm], (torch.randn(32, 26, 64),), 32) == 3 * 2 * 4 * 128 * (64 + 128) * 2 * 32 * 26
    gru = nn.GRU(8, 16, num_layers=2)

    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = gru

        def forward(self, x):
            lengths = torch.tensor([5, 3])
            return self.rnn(nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True))[0].data

    per_token = 2 * 3 * 16 * (8 + 16) + 2 * 3 * 16 * (16 + 16)
    assert step_flops([Packed()], (torch.randn(2, 5, 8),), 2) == 3 * per_token * (5 + 3)
