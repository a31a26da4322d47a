"""The 2-core CI machine is shared: one torch thread per test process (two threads on a busy machine are
many times slower, see the field notes)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
