"""scripts/bench.py --suite tasks: it names every kind of learning, and its plain loops do exactly nnml's work.

The oracle of a fair race is equality: at one thread on the CPU, nnml's training and the hand-written loop start
from the same weights, see the same batches in the same order and draw the same noise, so after the same steps
both end with bit-identical weights. A plain loop that skipped a step, shuffled differently, missed a scheduler
step or drew its noise in another order would end elsewhere."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from tests.conftest import ROOT

REQUIRED = {"segmentation", "translation", "token_classification", "text_classification", "vae", "gan",
            "contrastive", "recsys_mf", "recsys_bpr", "supervised_b128", "supervised_b1024"}


@pytest.fixture(scope="module")
def bench_tasks():
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module("bench_tasks")


def test_list_names_every_task(bench_tasks, capsys):
    bench_tasks.main(["--suite", "tasks", "--list"])
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["tasks"]
    assert REQUIRED <= set(listed)
    # each benchmarks the homework's own preset (MF/BPR: the recsys preset with the model swapped)
    overrides = {n: " ".join(t["overrides"]) for n, t in listed.items()}
    for name, preset in [("segmentation", "experiment=shapes_unet"), ("translation", "experiment=translate_numbers"),
                         ("token_classification", "experiment=ner_faker"), ("text_classification",
                         "experiment=langid"), ("vae", "experiment=digits_vae"), ("gan", "experiment=digits_gan"),
                         ("contrastive", "experiment=mnist1d_simclr"), ("recsys_mf", "model=mf"),
                         ("recsys_bpr", "model=bpr")]:
        assert preset in overrides[name]


@pytest.mark.parametrize("name, extra", [
    ("supervised_b128", ["trainer.max_epochs=2"]),
    ("vae", ["trainer.max_epochs=2"]),  # KL warm-up weight per step, noise per step
    ("gan", ["trainer.max_epochs=1", "task.feature_net=identity", "task.fd_samples=50"]),  # two optimizers
    ("recsys_bpr", ["trainer.max_epochs=2"]),  # dict batches, sampled negatives
    ("segmentation", ["dataset.n_images=40", "dataset.image_size=16"]),  # a per-step OneCycle schedule
])
def test_plain_loop_ends_with_nnml_weights(bench_tasks, name, extra):
    extra = [*extra, "logger=none"]
    ours = bench_tasks.run_nnml(name, "1", "cpu", extra)
    plain = bench_tasks.run_plain(name, "1", "cpu", extra)
    assert (plain["steps"], plain["samples"]) == (ours["steps"], ours["samples"])
    assert plain["digest"] != plain["initial_digest"]  # it trained
    assert plain["digest"] == ours["digest"]
    assert ours["epoch_ms"] > 0 and plain["epoch_ms"] > 0


def test_steady_epochs_leave_out_the_first_two(bench_tasks):
    assert bench_tasks.steady_epoch_ms([9.0, 5.0, 0.001, 0.003, 0.002]) == 2.0
    assert bench_tasks.steady_epoch_ms([0.004]) == 4.0  # a one-epoch run has only its warm-up


@pytest.mark.parametrize("task, batch_size", [("supervised_b128", 128), ("vae", None)])
def test_epoch_race_alternates_nnml_and_plain_epochs_on_one_model(task, batch_size):
    """scripts/bench_epochs.py: both sides ran every round on the same modules (the digits MLP at batch 128; the
    VAE with its per-step KL weight, through the plain loop of bench_tasks.py); the ratio is plain epoch time over
    nnml's (no timing is asserted: only that the race ran and reports it)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    bench_epochs = importlib.import_module("bench_epochs")
    from nnml.engine import loop

    fit = loop.Trainer.fit
    r = bench_epochs.race(batch_size, 6, [], task)
    assert loop.Trainer.fit is fit  # the stand-in is removed again
    assert r["task"] == task and r["rounds"] == 6 and r["steps_per_epoch"] > 0
    assert r["batch_size"] == (batch_size or 64)
    assert r["nnml_ms_per_epoch"] > 0 and r["plain_ms_per_epoch"] > 0 and r["ratio"] > 0

def test_overrides_reach_both_sides_workers(bench_tasks, monkeypatch):
    """--override goes into each fresh process's command, and the worker reads it back for its config."""
    import subprocess
    from types import SimpleNamespace

    seen = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: seen.append(cmd) or SimpleNamespace(
        returncode=0, stdout='{"ok": 1}\n', stderr=""))
    for side in ("nnml", "plain"):
        assert bench_tasks.spawn("vae", side, "1", "cpu", ["trainer.train_metrics=false", "seed=3"]) == {"ok": 1}
    for cmd in seen:
        args = bench_tasks.parse_args(cmd[cmd.index("--suite"):])
        assert args.worker == "vae" and args.override == ["trainer.train_metrics=false", "seed=3"]
