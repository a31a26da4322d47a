"""Training on a CUDA device: precisions, torch.compile, channels-last CNNs, evaluation that reproduces.

Skipped without CUDA (CI on CPU); ``scripts/gpu_check.sh`` runs them on a GPU machine. Oracles: the scikit-learn
reference accuracy on digits (MLP ~0.97), the same run on the CPU, and ``nnml eval`` of the saved checkpoint.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import read_metrics, run_cli, run_dirs

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

BASE = ["trainer.device=cuda", "trainer.max_epochs=8", "trainer.num_threads=1", "logger=none"]


def train(tmp_path, *overrides):
    r = run_cli(["train", *BASE, *overrides], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    return read_metrics(run_dirs(tmp_path)[-1]), run_dirs(tmp_path)[-1]


@pytest.mark.parametrize("precision", ["32", "bf16", "16"])
def test_mlp_trains_on_cuda_in_each_precision(tmp_path, precision):
    m, _ = train(tmp_path, f"trainer.precision={precision}")
    assert m["device"].startswith("cuda")
    assert m["test/acc"] > 0.93, m  # the sklearn MLP reference is ~0.97 on digits
    assert m["train_samples_per_s"] > 0


def test_float32_on_cuda_agrees_with_cpu(tmp_path):
    (tmp_path / "gpu").mkdir()
    (tmp_path / "cpu").mkdir()
    gpu, _ = train(tmp_path / "gpu", "model.dropout=0")
    r = run_cli(["train", *[o for o in BASE if o != "trainer.device=cuda"], "trainer.device=cpu", "model.dropout=0"],
                cwd=tmp_path / "cpu")
    assert r.returncode == 0, r.stderr[-2000:]
    cpu = read_metrics(run_dirs(tmp_path / "cpu")[-1])
    # Same init and batch order; TF32 matmuls and other kernels change the last digits only.
    assert abs(gpu["test/acc"] - cpu["test/acc"]) <= 0.02, (gpu["test/acc"], cpu["test/acc"])
    assert abs(gpu["train/loss"] - cpu["train/loss"]) < 0.05


def test_compile_reports_compile_time_and_trains(tmp_path):
    m, _ = train(tmp_path, "trainer.compile=true")
    assert m["compile_time_s"] > 0
    assert m["test/acc"] > 0.93


@pytest.fixture(scope="module")
def cnn_on_cpu(tmp_path_factory):
    """The same CNN run on the CPU: the default CNN reaches ~0.87-0.91 on digits in 8 epochs (not the MLP's 0.97)."""
    d = tmp_path_factory.mktemp("cnn_cpu")
    r = run_cli(["train", *[o for o in BASE if o != "trainer.device=cuda"], "trainer.device=cpu", "model=cnn"], cwd=d)
    assert r.returncode == 0, r.stderr[-2000:]
    return read_metrics(run_dirs(d)[-1])


@pytest.mark.parametrize("precision", ["32", "bf16"])
def test_channels_last_cnn_trains(tmp_path, precision, cnn_on_cpu):
    m, _ = train(tmp_path, "model=cnn", f"trainer.precision={precision}")
    # Same init and batch order as the CPU run; channels-last kernels, TF32 and bf16 move the result a little.
    assert m["test/acc"] > 0.8, m
    assert abs(m["test/acc"] - cnn_on_cpu["test/acc"]) <= 0.05, (m["test/acc"], cnn_on_cpu["test/acc"])


def test_nnml_puts_a_cnn_in_channels_last_on_cuda(tmp_path):
    from nnml.engine.callbacks import Callback
    from tests.conftest import compose, train_config

    seen = {}

    class Look(Callback):
        def on_fit_start(self, state):
            w = state.info["model_ref"].features[3].weight  # 32x16x3x3 (1 input channel would pass either way)
            seen["channels_last"] = w.is_contiguous(memory_format=torch.channels_last) and w.dim() == 4

    cfg = compose(["model=cnn", *BASE, "trainer.max_epochs=1"])
    train_config(cfg, tmp_path, callbacks=[Look()], quiet=True)
    assert seen["channels_last"]


def test_eval_on_cuda_reproduces_the_runs_test_metrics(tmp_path):
    m, run = train(tmp_path, "trainer.precision=bf16")
    r = run_cli(["eval", str(run), "--json"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    ev = json.loads(r.stdout)
    acc = ev.get("test/acc", ev.get("acc"))
    assert acc == pytest.approx(m["test/acc"], abs=1e-6)
