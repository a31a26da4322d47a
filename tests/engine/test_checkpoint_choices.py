"""Checkpoint choices and a run's segments, through the real CLI: trainer.save_top_k keeps the k best epochs by the
monitor (the oracle is metrics.csv's own column), keep_every_n_epochs every N-th; each kept file evaluates like
best.pt; a resumed run's metrics.json adds up its segments, and an override given to one resume for where or how
fast it runs is not inherited by the next."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from typer.testing import CliRunner

from nnml.cli import app
from tests.conftest import read_metrics, run_dirs

runner = CliRunner()
MOONS = ["dataset=moons", "trainer.device=cpu", "logger=csv", "model.hidden=[16]"]


def _invoke(*args):
    r = runner.invoke(app, ["train", *args])
    assert r.exit_code == 0, r.output
    return r


def _epoch_of(path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["loop"]["epoch"]


def test_top_k_and_every_n_keep_the_right_epochs(workdir):
    _invoke(*MOONS, "trainer.max_epochs=6", "trainer.save_top_k=2", "trainer.keep_every_n_epochs=4",
            "trainer.num_threads=1")
    (run,) = run_dirs(workdir)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    by_acc = sorted(((-float(r["val/acc"]), int(r["epoch"])) for r in rows if r.get("val/acc")))
    best_two = [epoch for _, epoch in by_acc[:2]]
    index = json.loads((run / "checkpoints" / "top_k.json").read_text())
    assert index["monitor"] == "val/acc" and index["mode"] == "max"
    assert [e["epoch"] for e in index["top_k"]] == best_two
    kept = {p.name for p in (run / "checkpoints").glob("epoch-*.pt")}
    assert kept == {f"epoch-{e:04d}.pt" for e in {*best_two, 4}}
    for name in kept:
        assert _epoch_of(run / "checkpoints" / name) == int(name[6:10])
    # The best of the k is the best epoch: the same weights as best.pt, and the same test metrics as training's.
    assert read_metrics(run)["best_epoch"] == best_two[0]
    top = torch.load(run / "checkpoints" / index["top_k"][0]["file"], map_location="cpu", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(top["model"][k], best["model"][k]) for k in best["model"])
    r = runner.invoke(app, ["eval", str(run), "-c", index["top_k"][0]["file"], "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["test/acc"] == pytest.approx(read_metrics(run)["test/acc"])


def test_missing_checkpoint_names_the_kept_files(workdir):
    _invoke(*MOONS, "trainer.max_epochs=2", "trainer.keep_every_n_epochs=1", "trainer.num_threads=1")
    (run,) = run_dirs(workdir)
    r = runner.invoke(app, ["eval", str(run), "-c", "epoch-0009.pt"])
    assert r.exit_code == 2
    assert "--checkpoint epoch-0009.pt: no such file; choose best, last, epoch-0001.pt, epoch-0002.pt" in r.output


def test_bad_checkpoint_choice_is_one_line(workdir):
    r = runner.invoke(app, ["train", *MOONS, "trainer.save_top_k=-1"])
    assert r.exit_code == 2 and "trainer.save_top_k=-1" in r.output
    assert not (workdir / "outputs").exists()


def test_resumed_run_adds_up_its_segments_and_how_keys_do_not_stick(workdir):
    _invoke(*MOONS, "trainer.max_epochs=2")
    (run,) = run_dirs(workdir)
    first = read_metrics(run)
    _invoke(f"resume={run}", "trainer.max_epochs=3", "trainer.num_threads=1")
    _invoke(f"resume={run}", "trainer.max_epochs=4")
    m = read_metrics(run)
    segs = m["segments"]
    assert [(s["from_epoch"], s["to_epoch"]) for s in segs] == [(0, 2), (2, 3), (3, 4)]
    assert segs[0]["wall_time_s"] == first["wall_time_s"], "the first segment is the run as it first finished"
    assert m["wall_time_s"] == pytest.approx(sum(s["wall_time_s"] for s in segs), abs=1e-3)
    assert m["train_time_s"] == pytest.approx(sum(s["train_time_s"] for s in segs), abs=1e-3)
    assert "trainer.num_threads=1" in segs[1]["overrides"]
    assert not any("num_threads" in o for o in segs[2]["overrides"])
    # The run's config records what it trains (max_epochs 4), not the one-off thread count of the second segment.
    config = (run / ".hydra" / "config.yaml").read_text()
    assert "max_epochs: 4" in config and "num_threads: auto" in config
