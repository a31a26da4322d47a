"""A run puts back the process-wide torch switches it turned: the next run in the same process (a sweep's next
job, a notebook's next ``nnml.train``, the in-process tests) starts from what the process had.

Found when the NaN tests moved in-process: ``trainer.detect_anomaly=true`` left anomaly detection on for every later
test of that worker (each backward then records a traceback per op)."""

from __future__ import annotations

import pytest
import torch

from nnml.errors import NnmlError
from tests.conftest import TINY, compose, train_config


def _switches():
    return (torch.is_anomaly_enabled(), torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
            torch.get_num_threads())


def test_a_finished_run_puts_the_switches_back(tmp_path):
    before = _switches()
    assert before[:2] == (False, False)
    torch.set_num_threads(2)  # the run asks for one (TINY)
    before = _switches()
    train_config(compose([*TINY, "logger=none", "trainer.detect_anomaly=true", "trainer.deterministic=true"]),
                 tmp_path, quiet=True)
    assert _switches() == before


@pytest.mark.filterwarnings("ignore:Error detected in")  # anomaly mode's own report of the NaN
def test_a_failed_run_puts_them_back_too(tmp_path):
    before = _switches()
    with pytest.raises(NnmlError):  # the NaN stop, named by anomaly detection
        train_config(compose([*TINY, "logger=none", "optimizer=sgd", "optimizer.lr=1e10", "trainer.max_epochs=2",
                              "trainer.detect_anomaly=true", "trainer.deterministic=true"]), tmp_path, quiet=True)
    assert _switches() == before
