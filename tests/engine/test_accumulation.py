"""trainer.accumulate_grad_batches=K against a plain PyTorch loop with a K times larger batch on the same samples.

Oracle: with a mean-reduced loss, K micro-batches of B samples whose gradients of loss/K add up give the gradient of
the mean loss over their K*B samples, so SGD takes the same steps (to float rounding: the sums run in another
order). The same holds through a GradScaler (a power-of-two scale is exact), clipping (of the summed gradient),
per-step schedulers (they step once per group) and DDP (no_sync on all but the group's last micro-batch: the
all-reduce then happens once per group, and averaging is linear)."""

from __future__ import annotations

import copy
import os
import signal

import pytest
import torch
from torch import nn

from nnml.engine.step import Accumulation, OptimizerSlot, optimizer_steps


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def _data(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)


def _plain(model, x, y, big: int, lr=0.1, clip=None, epochs=2):
    """The loop a person writes: batches of ``big`` in order, SGD, optional clipping."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        for i in range(0, len(x), big):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + big]), y[i:i + big]).backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
    return model


def _accumulated(model, x, y, micro: int, k: int, lr=0.1, clip=None, scaler=None, epochs=2):
    slot = OptimizerSlot(torch.optim.SGD(model.parameters(), lr=lr), grad_clip=clip, scaler=scaler)
    steps = -(-len(x) // micro)
    acc = Accumulation(k, steps)
    stepped = 0
    for _ in range(epochs):
        for s, i in enumerate(range(0, len(x), micro)):
            window = acc.window(s)
            slot.step(nn.functional.cross_entropy(model(x[i:i + micro]), y[i:i + micro]), micro=window)
            stepped += window is None or window[0] == window[1] - 1
    return model, stepped


def _assert_same(a: nn.Module, b: nn.Module, tol=1e-6):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=tol, rtol=0), (name, (p - q).abs().max().item())


@pytest.mark.parametrize("n, micro, k", [(96, 8, 4), (100, 10, 3)])  # 100/10/3: groups of 3, 3, 3 and 1 batches
def test_k_micro_batches_equal_one_k_times_larger_batch(n, micro, k):
    x, y = _data(n)
    want = _plain(_model(), x, y, micro * k)
    got, stepped = _accumulated(_model(), x, y, micro, k)
    _assert_same(got, want)
    assert stepped == 2 * optimizer_steps(-(-n // micro), k)
    # and without accumulation the weights differ (the test can fail)
    other, _ = _accumulated(_model(), x, y, micro, 1)
    assert not torch.allclose(next(other.parameters()), next(want.parameters()), atol=1e-4)


def test_accumulation_with_clipping_clips_the_summed_gradient():
    x, y = _data(96)
    want = _plain(_model(), x, y, 32, lr=0.5, clip=0.05)
    got, _ = _accumulated(_model(), x, y, 8, 4, lr=0.5, clip=0.05)
    _assert_same(got, want)


def test_accumulation_through_a_grad_scaler():
    """torch's GradScaler (on the CPU here; the same code runs for fp16 on CUDA): each micro-batch's loss is scaled,
    the summed gradient unscaled once, clipped, stepped."""
    x, y = _data(96)
    want = _plain(_model(), x, y, 32, clip=1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    got, _ = _accumulated(_model(), x, y, 8, 4, clip=1.0, scaler=scaler)
    _assert_same(got, want)
    assert scaler.get_scale() == 2.0**12  # no step was skipped for an inf


def test_a_per_step_scheduler_steps_once_per_optimizer_step():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 ** step)
    slot = OptimizerSlot(opt, sched, "step")
    acc = Accumulation(4, 10)  # 10 batches: groups of 4, 4, 2
    x, y = _data(10)
    for s in range(10):
        slot.step(nn.functional.cross_entropy(model(x[s:s + 1]), y[s:s + 1]), micro=acc.window(s))
    assert sched.last_epoch == 3 and slot.lr == 0.5 ** 3


def test_the_loop_refuses_accumulation_for_a_task_that_steps_itself():
    from nnml.errors import NnmlError

    class Manual:
        automatic_optimization = False

    with pytest.raises(NnmlError, match="accumulate_grad_batches=2"):
        Accumulation(2, 10, (), Manual())


def test_ddp_all_reduces_once_per_group(tmp_path):
    """A real DDP module (one gloo process): a communication hook counts the all-reduces of 8 micro-batches."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("needs torch.distributed with gloo")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        counts = []
        for k in (1, 4):
            model = DDP(_model())
            calls = []

            def hook(state, bucket, calls=calls):
                calls.append(1)
                fut = torch.futures.Future()
                fut.set_result(bucket.buffer())
                return fut

            model.register_comm_hook(None, hook)
            reference = _plain(copy.deepcopy(model.module), *_data(64), 8 * k, epochs=1)
            slot = OptimizerSlot(torch.optim.SGD(model.parameters(), lr=0.1))
            acc = Accumulation(k, 8, [model])
            x, y = _data(64)
            for s in range(8):
                window = acc.window(s)
                with acc.sync(window):
                    slot.step(nn.functional.cross_entropy(model(x[8 * s:8 * s + 8]), y[8 * s:8 * s + 8]), micro=window)
            counts.append(len(calls))
            _assert_same(model.module, reference)
        assert counts == [8, 2]
    finally:
        dist.destroy_process_group()


# ------------------------------------------------------------------------------------------ through nnml train
def _capture(store: dict):
    from nnml.engine.callbacks import Callback

    class Capture(Callback):
        def on_fit_start(self, state):
            store["init"] = copy.deepcopy(state.info["model_ref"])

        def on_fit_end(self, state):
            store["final"] = copy.deepcopy(state.info["model_ref"])
            store["state"] = state

    return Capture()


COMMON = ["trainer.device=cpu", "trainer.num_threads=1", "logger=none", "model.dropout=0", "optimizer=momentum",
          "optimizer.lr=0.1", "optimizer.momentum=0.9", "trainer.max_epochs=3"]


def test_nnml_train_with_accumulation_follows_the_plain_loop_with_the_larger_batch(tmp_path):
    """nnml: batches of 32, K=4, the first 8 batches of each epoch. Plain PyTorch: batches of 128 (the same samples:
    nnml's epoch permutation), SGD with momentum, from the same initial weights."""
    from nnml.config.targets import Trust
    from nnml.data.batches import epoch_generator
    from nnml.run.build import build_data
    from tests.conftest import compose, train_config

    cfg = compose([*COMMON, "dataset.batch_size=32", "trainer.accumulate_grad_batches=4",
                   "trainer.limit_train_batches=8"])
    store = {}
    train_config(cfg, tmp_path / "run", callbacks=[_capture(store)], quiet=True)
    assert store["state"].global_step == 3 * 8

    data = build_data(cfg.dataset, seed=int(cfg.data_seed), trust=Trust.own(cfg))
    model = store["init"]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(3):
        order = torch.randperm(len(data.y_train), generator=epoch_generator(int(cfg.seed), epoch))
        for g in range(2):
            idx = order[128 * g:128 * (g + 1)]
            opt.zero_grad()
            nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
    _assert_same(store["final"], model, tol=2e-6)


def test_onecycle_counts_optimizer_steps(tmp_path):
    """scheduler=onecycle gets its length from the optimizer steps: digits' 10 batches an epoch with K=3 are 4 steps,
    so 3 epochs are torch's OneCycleLR(epochs=3, steps_per_epoch=4) stepped 12 times (with 10 steps an epoch the
    schedule would still be near its peak)."""
    from tests.conftest import compose, train_config

    cfg = compose([*COMMON, "scheduler=onecycle", "scheduler.max_lr=0.05", "trainer.accumulate_grad_batches=3"])
    store = {}
    train_config(cfg, tmp_path / "run", callbacks=[_capture(store)], quiet=True)

    def after(steps_per_epoch, steps):
        opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, epochs=3, steps_per_epoch=steps_per_epoch,
                                                    pct_start=0.3)
        for _ in range(steps):
            opt.step()
            sched.step()
        return opt.param_groups[0]["lr"]

    lr = store["state"].last_metrics["lr"]
    assert lr == pytest.approx(after(4, 12), rel=1e-9)
    assert abs(lr - after(10, 12)) > 0.01


def test_ctrl_c_inside_a_group_checkpoints_after_it_and_the_resume_is_exact(tmp_path):
    """A signal after the second batch of a group of 3: the loop finishes the group (its optimizer step), then
    saves; the resumed run ends with the weights of the uninterrupted one."""
    from nnml.engine.callbacks import Callback
    from nnml.engine.loop import Interrupted
    from tests.conftest import compose, train_config

    overrides = [*COMMON, "trainer.accumulate_grad_batches=3", "trainer.log_every_n_steps=1"]
    ref = {}
    train_config(compose(overrides), tmp_path / "ref", callbacks=[_capture(ref)], quiet=True)

    class CtrlC(Callback):
        def on_train_log(self, state, scalars):
            if state.global_step == 14:  # epoch 2 after its batch 3: the first of the group 3, 4, 5
                signal.raise_signal(signal.SIGINT)

    with pytest.raises(Interrupted):
        train_config(compose(overrides), tmp_path / "run", callbacks=[CtrlC()], quiet=True)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["loop"]
    assert (saved["epoch"], saved["step_in_epoch"]) == (1, 6)
    got = {}
    train_config(compose([*overrides, f"resume={tmp_path / 'run'}"]), tmp_path / "run", callbacks=[_capture(got)],
                 quiet=True)
    _assert_same(got["final"], ref["final"], tol=0)
    assert os.path.isfile(tmp_path / "run" / "metrics.json")


@pytest.mark.slow
def test_two_ddp_ranks_accumulating_match_one_process_with_the_global_batch(tmp_path):
    """2 gloo ranks x batches of 32 x K=2 see, per optimizer step, the 128 samples one process sees in one batch
    (rank r takes every second sample of the same permutation); DDP averages, accumulation sums /K: the same step."""
    import torch.distributed as dist

    from tests.conftest import TINY, read_metrics, run_cli, run_dirs

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("needs torch.distributed with gloo")
    common = [*TINY, "model.dropout=0", "logger=none"]
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    single.mkdir()
    ddp.mkdir()
    r1 = run_cli(["train", *common, "dataset.batch_size=128", "trainer.limit_train_batches=4"], cwd=single)
    assert r1.returncode == 0, r1.stderr
    r2 = run_cli(["train", *common, "dataset.batch_size=32", "trainer.devices=2", "trainer.accumulate_grad_batches=2",
                  "trainer.limit_train_batches=8"], cwd=ddp)
    assert r2.returncode == 0, r2.stderr
    a, b = read_metrics(run_dirs(single)[0]), read_metrics(run_dirs(ddp)[0])
    keys = ["train/loss", "val/loss", "test/loss", "val/acc", "test/acc"]
    assert all(abs(a[k] - b[k]) < 2e-4 for k in keys), {k: (a[k], b[k]) for k in keys}
