"""task=recommendation through the real CLI: ALS (no optimizer, no backward) killed with SIGKILL between iterations
resumes to bit-identical factors; the gradient-trained rivals and the baseline run as one sweep that nnml compare
reads; nnml recommend and nnml predict on a finished run; bad input answered in one line each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import assert_records_reproduce_metrics, cli, read_metrics, run_dirs

BASE = ["train", "task=recommendation", "dataset=synthetic_interactions", "trainer.num_threads=1",
        "trainer.device=cpu", "dataset.num_users=300", "dataset.num_items=200"]
ALS_RUN = [*BASE, "model=als", "model.factors=8", "trainer.max_epochs=25", "trainer.checkpoint_every_n_epochs=1",
           "logger=none"]


def _ok(r):
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def _one_line_error(r, *parts):
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    err = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("MovieLens data:")]
    assert len(err) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for p in parts:
        assert p in err[0], err[0]
    return err[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("als_reference")
    _ok(cli(ALS_RUN, cwd))
    (run,) = run_dirs(cwd)
    return run


def _factors(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["modules"]["model"]


@pytest.mark.slow
def test_als_sigkill_between_iterations_resumes_bit_identical(tmp_path, reference):
    ckpt = torch.load(reference / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["slots"] == {} and set(ckpt["modules"]["model"]) == {"user_factors", "item_factors"}
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "nnml", *ALS_RUN], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300  # against a hang only
    while not list(tmp_path.glob("outputs/train/runs/*/checkpoints/last.pt")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    (run,) = run_dirs(tmp_path)
    stopped = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["loop"]["epoch"]
    assert 1 <= stopped < 25, "killed between the first checkpoint and the end"

    _ok(cli(["train", f"resume={run}"], tmp_path))
    a, b = _factors(run), _factors(reference)
    for k in b:
        assert torch.equal(a[k], b[k]), k
    ma, mb = read_metrics(run), read_metrics(reference)
    for k in mb:
        if k.startswith(("val/", "test/", "train/")) or k in ("best_epoch", "epochs"):
            assert ma[k] == mb[k], k
    assert mb["monitor"] == "val/ndcg@10" and mb["directions"]["ndcg@10"] == "max"


def _in_process(args):
    """The CLI in this process (no interpreter start-up): exit code, stdout, stderr."""
    from typer.testing import CliRunner

    from nnml.cli import app

    r = CliRunner().invoke(app, args)
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def test_recommend_and_predict_on_a_finished_run(reference):
    r = _ok(_in_process(["recommend", str(reference), "--user", "7", "--k", "5", "--json"]))
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    recs = [x for x in rows if x["kind"] == "recommended"]
    hist = [x for x in rows if x["kind"] == "history"]
    assert [x["rank"] for x in recs] == [1, 2, 3, 4, 5] and hist
    assert not {x["item"] for x in recs} & {x["item"] for x in hist}, "training items are never recommended"
    assert [x["score"] for x in recs] == sorted((x["score"] for x in recs), reverse=True)
    r = _ok(_in_process(["recommend", str(reference), "--item", "3", "--k", "4"]))
    assert "items most similar to 3" in r.stdout and "cosine" in r.stdout
    r = _ok(_in_process(["predict", str(reference), "7", "--top", "5", "--json"]))
    assert [json.loads(x)["item"] for x in r.stdout.splitlines()] == [x["item"] for x in recs]

    n_items = read_metrics(reference)["directions"] and torch.load(
        reference / "checkpoints" / "last.pt", weights_only=True)["modules"]["model"]["item_factors"].shape[0]
    _one_line_error(_in_process(["recommend", str(reference), "--user", "4242"]),
                    "--user 4242 is not a user of dataset=synthetic_interactions", "300 users", "ids 0..299")
    _one_line_error(_in_process(["recommend", str(reference), "--user", "7", "--k", "5000"]),
                    "--k 5000 is not valid", f"the catalogue has {n_items} items", f"k <= {n_items}")
    _one_line_error(_in_process(["recommend", str(reference)]), "needs exactly one of --user ID or --item ID")


def test_user_records_recompute_the_ranking_metrics(reference):
    records, spec = assert_records_reproduce_metrics(reference)["test"]
    assert spec["kind"] == "ranking" and "ratings" not in records  # implicit feedback: no ratings
    assert read_metrics(reference)["interval_methods"]["test/hit_rate@10"].startswith("Wilson")


def test_bad_training_input_is_one_line(workdir):
    _one_line_error(_in_process([*BASE, "model=als", "dataset.feedback=implicit", "dataset.threshold=6"]),
                    "dataset.threshold=6 leaves an empty training split", "ratings range 1-5")
    _one_line_error(_in_process([*BASE, "model=als", "task.k=5000"]),
                    "task.k=5000 is larger than the catalogue", "items; choose k")
    _one_line_error(_in_process(["train", "task=recommendation", "trainer.device=cpu", "trainer.num_threads=1"]),
                    "dataset=digits is made for", "not task=recommendation",
                    "datasets for task=recommendation: movielens_100k, synthetic_interactions")


@pytest.mark.slow
def test_rivals_as_one_sweep_and_compare(tmp_path):
    r = _ok(cli(["train", "-m", *BASE[1:], "model=bpr,mf,most_popular", "trainer.max_epochs=2",
                     "optimizer.lr=0.01", "dataset.feedback=explicit", "logger=none"], tmp_path))
    jobs = sorted(p.parent for p in tmp_path.glob("outputs/train/multiruns/*/*/metrics.json"))
    assert len(jobs) == 3, r.stdout
    by_model = {read_metrics(j)["task"] and j.name.split("model=")[1].split(",")[0]: j for j in jobs}
    assert set(by_model) == {"bpr", "mf", "most_popular"}, [j.name for j in jobs]
    for job in jobs:
        m = read_metrics(job)
        assert 0.0 <= m["test/ndcg@10"] <= 1.0 and m["epochs"] == 2
        assert "test/rmse" in m and "test/mae" in m, "explicit ratings: rating errors too"
        records, _ = assert_records_reproduce_metrics(job)["test"]
        assert {"ratings", "sq_error", "abs_error"} <= set(records)  # RMSE and MAE from the users' error sums
    pop, bpr = read_metrics(by_model["most_popular"]), read_metrics(by_model["bpr"])
    assert pop["num_params"] == 0 and bpr["num_params"] > 0
    sweep = jobs[0].parent
    r = _ok(cli(["compare", str(sweep)], tmp_path))
    assert "most_popular" in r.stdout and "bpr" in r.stdout
