"""cuDNN's autotuner is on only where the batches keep one shape (and the run is not deterministic).

On an H200 (scripts/gpu_check.sh, 2026-12-04) the language-ID preset, a 1-D CNN over length-bucketed characters,
trained at ~100 samples/s with the autotuner on: it timed every convolution algorithm again for each new sequence
length. These checks run without a GPU: the flag is set from the training batch source before anything trains.
"""

from __future__ import annotations

import pytest
import torch

from nnml.data.batches import InMemoryBatches, limit_batches
from nnml.engine.device import setup_cuda_speedups
from nnml.tasks.text.batches import BucketBatches, pad
from tests.conftest import compose, train_config


@pytest.fixture
def cudnn_flags():
    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    yield
    torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_bucketed_batches_vary_in_shape_and_say_so():
    lengths = torch.tensor([3, 9, 4, 17, 2, 11, 6, 30])
    src = BucketBatches({"x": pad([[5] * int(k) for k in lengths]), "x_len": lengths}, lengths, batch_size=2,
                        shuffle=True, seed=0, device="cpu", trim={"x": "x_len"}, bucket=1)
    assert len({b["x"].shape for b in src.epoch(0)}) > 1  # why the flag exists
    assert src.varying_shapes
    assert limit_batches(src, 2).varying_shapes  # debug=limit / overfit keep the source's answer
    fixed = InMemoryBatches(torch.zeros(8, 3), torch.zeros(8), batch_size=2, shuffle=True, seed=0, device="cpu")
    assert not getattr(fixed, "varying_shapes", False)
    assert not limit_batches(fixed, 2, fixed=True).varying_shapes


def test_the_autotuner_flag_follows_the_argument_on_cuda_only(cudnn_flags):
    setup_cuda_speedups(torch.device("cuda"), autotune=False)
    assert torch.backends.cudnn.benchmark is False
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    setup_cuda_speedups(torch.device("cuda"), autotune=True)
    assert torch.backends.cudnn.benchmark is True
    torch.backends.cudnn.benchmark = False
    setup_cuda_speedups(torch.device("cpu"), autotune=True)  # nothing to set up on the CPU
    assert torch.backends.cudnn.benchmark is False


class _Seen(Exception):
    pass


@pytest.mark.parametrize("overrides, autotune", [
    (["dataset=digits"], True),
    (["dataset=digits", "trainer.deterministic=true"], False),
    (["experiment=langid"], False),
])
def test_train_asks_for_the_autotuner_by_its_batches(tmp_path, monkeypatch, overrides, autotune):
    seen = {}

    def record(device, autotune=True):
        seen["autotune"] = autotune
        raise _Seen  # the flag is all this test needs: stop before anything trains

    monkeypatch.setattr("nnml.run.train.setup_cuda_speedups", record)
    with pytest.raises(_Seen):
        train_config(compose([*overrides, "logger=none", "trainer.max_epochs=1"]), tmp_path, quiet=True)
    assert seen["autotune"] is autotune
