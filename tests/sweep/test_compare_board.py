"""nnml compare on the seven-optimizer sweep in every format, its learning-curve plot, and nnml board's data read
back through TensorBoard's own HTTP API."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import invoke

OPTIMIZERS = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}


def _truth(sweep: Path) -> dict:
    """optimizer -> (its saved config, its metrics.json): the oracle, read without nnml."""
    out = {}
    for job in sweep.iterdir():
        if (job / "metrics.json").is_file():
            cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
            choice = yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]["runtime"]["choices"]
            out[choice["optimizer"]] = (cfg, json.loads((job / "metrics.json").read_text()))
    return out


def _cli(args):
    result = invoke(["compare", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_compare_all_formats(seven_sweep):
    _, sweep = seven_sweep
    truth = _truth(sweep)
    assert set(truth) == OPTIMIZERS
    expected_order = sorted(truth, key=lambda o: (-truth[o][1]["val/acc"], truth[o][1]["val/loss"]))

    rows = json.loads(_cli([str(sweep), "--format", "json"]))
    assert [r["optimizer"] for r in rows] == expected_order
    for r in rows:
        cfg, m = truth[r["optimizer"]]
        assert r["val/acc"] == m["val/acc"] and r["test/acc"] == m["test/acc"]
        assert r["optimizer.lr"] == cfg["optimizer"]["lr"]
        assert r["optimizer.weight_decay"] == cfg["optimizer"]["weight_decay"]
    # Exactly the hyperparameters that differ: the choice, lr and weight decay (momentum, betas, ... follow the choice)
    hp = [k for k in rows[0] if k not in ("rank", "val/acc", "test/acc", "epochs", "status", "run")]
    assert hp == ["optimizer", "optimizer.lr", "optimizer.weight_decay"]

    parsed = list(csv.DictReader(io.StringIO(_cli([str(sweep), "-f", "csv", "--metric", "val/loss"]))))
    assert [r["optimizer"] for r in parsed] == sorted(truth, key=lambda o: truth[o][1]["val/loss"])
    assert all(float(r["val/loss"]) == truth[r["optimizer"]][1]["val/loss"] for r in parsed)

    asc = json.loads(_cli([str(sweep), "-f", "json", "--sort", "asc"]))
    assert [r["val/acc"] for r in asc] == sorted(m["val/acc"] for _, m in truth.values())

    md = _cli([str(sweep), "-f", "markdown"]).splitlines()
    assert md[0].startswith("| rank | optimizer | optimizer.lr | optimizer.weight_decay | val/acc | test/acc |")
    assert len(md) == 9 and md[2].split("|")[2].strip() == expected_order[0]

    table = _cli([str(sweep)])
    assert "7 runs, by val/acc" in table and all(o in table for o in OPTIMIZERS)


def test_compare_plot_and_curves(seven_sweep, tmp_path):
    from nnml.sweep.compare import read_curves

    _, sweep = seven_sweep
    out = tmp_path / "curves.png"
    _cli([str(sweep), "--plot", str(out), "-f", "csv"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    for opt, (cfg, m) in _truth(sweep).items():
        job = next(p for p in sweep.iterdir() if f"optimizer={opt}," in p.name or p.name.endswith(f"optimizer={opt}"))
        curves = read_curves(job, ["train/loss", "val/acc"])
        assert curves["train/loss"][0] == [1, 2] and curves["val/acc"][0] == [1, 2]
        assert curves["train/loss"][1][-1] == pytest.approx(m["train/loss"], rel=1e-6)
        assert max(curves["val/acc"][1]) == pytest.approx(m["val/acc"], rel=1e-6)  # best epoch's weights


def test_compare_errors(tmp_path):
    r = invoke(["compare", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = invoke(["compare", str(tmp_path)])
    assert r.exit_code == 2 and "no runs under" in r.output
    r = invoke(["compare", str(tmp_path), "-f", "xml"])
    assert r.exit_code == 2 and "--format=xml is not valid" in r.output


def _get(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_board_serves_sweep_runs_scalars_and_hparams(seven_sweep):
    from nnml.cli.board import free_port, start

    _, sweep = seven_sweep
    url = start(sweep, host="127.0.0.1", port=free_port()).rstrip("/")
    assert url.startswith("http://127.0.0.1:") or url.startswith("http://localhost:")
    jobs = {p.name for p in sweep.iterdir() if (p / "metrics.json").is_file()}
    deadline = time.time() + 60
    runs = []
    # every job, and the sweep folder itself ('.': the sweep's HParams experiment, written at its end)
    while time.time() < deadline and set(runs) != jobs | {"."}:
        runs = _get(f"{url}/data/runs")
        time.sleep(0.5)
    assert set(runs) == jobs | {"."}

    tags = _get(f"{url}/data/plugin/scalars/tags")
    for run in jobs:
        assert {"train/loss", "val/acc", "val/loss", "train/lr"} <= set(tags[run]) and "epoch" not in tags[run]

    exp = _get(f"{url}/data/plugin/hparams/experiment", {"experimentName": ""})
    hp_names = {h["name"] for h in exp["hparamInfos"]}
    metric_tags = {m["name"]["tag"] for m in exp["metricInfos"]}
    # The columns are what differs between the jobs (the sweep's experiment, written at its end; each job knew
    # only that the optimizer was swept), nothing constant; the monitored metric and its test counterpart lead the
    # metrics (the dashboard ticks the first five)
    assert {"optimizer", "optimizer.lr"} <= hp_names and "trainer.max_epochs" not in hp_names and "note" not in hp_names
    assert exp["hparamInfos"][0]["name"] == "optimizer" and {"hparam/val/acc", "hparam/test/acc"} <= metric_tags
    assert [m["name"]["tag"] for m in exp["metricInfos"]][:2] == ["hparam/val/acc", "hparam/test/acc"]
    layout = _get(f"{url}/data/plugin/custom_scalars/layout")
    charts = [c for cat in layout["category"] for c in cat["chart"]]
    assert {tuple(c["multiline"]["tag"]) for c in charts} == {("^(train|val)/loss$",), ("^val/acc$",)}

    groups = _get(f"{url}/data/plugin/hparams/session_groups", {
        "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                                  "STATUS_RUNNING"],
        "colParams": [], "startIndex": 0, "sliceSize": 100})
    assert int(groups["totalSize"]) == 7
    truth = _truth(sweep)
    assert {g["hparams"]["optimizer"] for g in groups["sessionGroups"]} == OPTIMIZERS
    for g in groups["sessionGroups"]:
        opt = g["hparams"]["optimizer"]
        vals = {m["name"]["tag"]: m["value"] for m in g["metricValues"]}
        assert vals["hparam/val/acc"] == pytest.approx(truth[opt][1]["val/acc"], rel=1e-6)
        assert vals["hparam/test/acc"] == pytest.approx(truth[opt][1]["test/acc"], rel=1e-6)
