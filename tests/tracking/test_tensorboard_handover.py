"""The TensorBoard logger hands scalars to its writer thread outside the training steps, and only when it flushes
(every EPOCH_FLUSH_EVERY_S, at the last epoch, before a checkpoint, at the end): per-step scalars and each epoch's,
in the order and with the wall times they were logged. An event handed over mid-epoch wakes the writer thread,
whose pure-Python CRC then takes the GIL from the training thread; building every short epoch's event at once cost
~0.3 ms of a 20 ms epoch in whole runs (docs/performance.md)."""

from __future__ import annotations

import time
from types import SimpleNamespace

from nnml.tracking import tensorboard as tb


def _logger(tmp_path, monkeypatch):
    logger = tb.TensorBoardLogger(tmp_path, figures=False)
    handed = []
    fw = logger.writer._get_file_writer()
    monkeypatch.setattr(fw, "add_summary", lambda summary, step, walltime=None: handed.append(
        (step, walltime, {v.tag: v.simple_value for v in summary.value})))
    return logger, handed


def test_scalars_wait_for_the_flush(tmp_path, monkeypatch):
    logger, handed = _logger(tmp_path, monkeypatch)
    clock = [1000.0]
    monkeypatch.setattr(tb.time, "monotonic", lambda: clock[0])
    logger._last_flush = clock[0]
    flushes = []
    monkeypatch.setattr(logger.writer, "flush", lambda: flushes.append(clock[0]))
    state = SimpleNamespace(global_step=0, epoch=0, max_epochs=5)
    for step in (1, 50, 100):
        state.global_step = step
        logger.on_train_log(state, {"train/loss": step / 128})
    assert handed == []  # nothing reaches the writer while the epoch's steps run
    state.epoch = 1
    logger.on_epoch_end(state, {"train/loss": 0.5, "val/loss": 0.625})
    assert handed == [] and flushes == []  # nor after a short epoch: they wait for the flush
    waiting = [w for _, _, w in logger._steps]
    clock[0] += tb.EPOCH_FLUSH_EVERY_S
    state.epoch, state.global_step = 2, 200
    logger.on_epoch_end(state, {"train/loss": 0.25, "val/loss": 0.5})
    assert [s for s, _, _ in handed] == [1, 50, 100, 100, 200]  # in the order they were logged
    assert [w for _, w, _ in handed[:4]] == waiting  # each with the wall time it was logged at
    assert handed[0][2] == {"train/step_loss": 1 / 128} and handed[3][2]["val/loss"] == 0.625
    assert flushes == [clock[0]]
    state.epoch, state.global_step = 5, 500  # the last epoch flushes however soon it comes
    logger.on_epoch_end(state, {"train/loss": 0.125})
    assert [s for s, _, _ in handed][-1] == 500 and len(flushes) == 2
    logger.close()


def test_a_long_epoch_hands_them_over_every_few_seconds(tmp_path, monkeypatch):
    logger, handed = _logger(tmp_path, monkeypatch)
    clock = [1000.0]
    monkeypatch.setattr(tb.time, "monotonic", lambda: clock[0])
    state = SimpleNamespace(global_step=1, epoch=0, max_epochs=5)
    logger.on_train_log(state, {"train/loss": 1.0})
    clock[0] += tb.STEP_HANDOVER_S / 2
    state.global_step = 50
    logger.on_train_log(state, {"train/loss": 0.9})
    assert handed == []
    clock[0] += tb.STEP_HANDOVER_S
    state.global_step = 100
    logger.on_train_log(state, {"train/loss": 0.8})
    assert [s for s, _, _ in handed] == [1, 50, 100]


def test_close_hands_over_an_unfinished_epoch(tmp_path, monkeypatch):
    logger, handed = _logger(tmp_path, monkeypatch)
    logger.on_train_log(SimpleNamespace(global_step=7, epoch=0, max_epochs=5), {"train/loss": 2.0})
    logger.close()  # after Ctrl-C or an error mid-epoch
    assert [s for s, _, _ in handed] == [7]



def test_the_events_a_checkpoint_covers_are_flushed_before_it(tmp_path, monkeypatch):
    """A resume starts from the newest last.pt, so a SIGKILL right after it appears must not lose the epochs it
    covers from TensorBoard (the writer thread is a daemon; what it buffers dies with the process): the writer is
    flushed right before every checkpoint is written."""
    from torch.utils.tensorboard import SummaryWriter

    from nnml.engine.checkpointer import Checkpointer
    from tests.conftest import cli

    calls = []
    save, flush = Checkpointer.save, SummaryWriter.flush

    def saving(self, state, snapshot):
        calls.append("save")
        return save(self, state, snapshot)

    def flushing(self):
        calls.append("flush")
        return flush(self)

    monkeypatch.setattr(Checkpointer, "save", saving)
    monkeypatch.setattr(SummaryWriter, "flush", flushing)
    r = cli(["train", "dataset=digits", "model=mlp", "trainer.max_epochs=3", "trainer.checkpoint_every_n_epochs=1",
             "trainer.num_threads=1"], tmp_path)
    assert r.returncode == 0, r.stderr
    saves = [i for i, what in enumerate(calls) if what == "save"]
    assert len(saves) >= 3  # every epoch, and the end of the fit
    assert all(i > 0 and calls[i - 1] == "flush" for i in saves), calls


def test_a_resumed_runs_event_file_sorts_after_the_stopped_runs(tmp_path):
    """TensorBoard reads a folder's event files in name order (second, host, pid, counter). A resume in the same
    second as the stopped run's start, from a process with a smaller pid (the killed-run test resumes in the test
    process), made a file that sorted first, and the stopped run's epochs were lost from the charts; the resumed
    writer now starts in a later second than any other process's file."""
    import os
    import socket

    stopped = tmp_path / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.zzzz.0"  # sorts last
    stopped.write_bytes(b"")
    logger = tb.TensorBoardLogger(tmp_path, figures=False)
    logger.purge_from(80)
    logger.add_scalars({"val/loss": 1.0}, 158)
    logger.close()
    newest = sorted(p.name for p in tmp_path.glob("events.out.tfevents.*"))[-1]
    assert newest.split(".")[5] == str(os.getpid()) and newest != stopped.name
