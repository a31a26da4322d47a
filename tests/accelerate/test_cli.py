"""nnml accelerate, nnml eval of a variant and task=distill through the real CLI, on tiny runs."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import TINY, cli, read_metrics, run_dirs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("accel_cli")
    r = cli(["train", *TINY, "experiment=digits_cnn", "logger=none"], root)
    assert r.returncode == 0, r.stderr
    return root, run_dirs(root)[-1]


def test_accelerate_a_cnn_run_then_eval_its_variant(cnn_run):
    root, run = cnn_run
    r = cli(["accelerate", str(run), "--methods", "int8_static,prune_structured,prune_unstructured",
                 "--finetune-epochs", "1", "--repeats", "3", "--batch", "8", "--json"], root)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    rows = {row["variant"]: row for row in rep["rows"]}
    # each variant's status is its verdict against the original's test accuracy (1 point or 2%)
    for row in rep["rows"][1:]:
        lost = rows["original"]["metric"] - row["metric"]
        assert row["status"] == ("degraded" if lost > max(0.01, 0.02 * rows["original"]["metric"]) else "ok"), row
        assert row["usable"] == (row["status"] == "ok") and (row["variant"] in rep["usable"]) == row["usable"]
    assert rows["original"]["metric"] == read_metrics(run)["test/acc"]  # the run's own test evaluation
    assert rows["prune_structured"]["macs_ratio"] >= 3
    assert rows["prune_unstructured"]["nonzero"] < 0.6 * rows["prune_unstructured"]["params"]
    out = run / "accelerated"
    assert {"report.json", "report.md", "tradeoff.png"} <= {p.name for p in out.iterdir()}
    e = cli(["eval", str(run), "--checkpoint", "accelerated/int8_static", "--json"], root)
    assert e.returncode == 0, e.stderr
    assert json.loads(e.stdout)["test/acc"] == rows["int8_static"]["metric"]


def test_strict_exits_1_when_a_variant_is_degraded(cnn_run):
    root, run = cnn_run
    # no allowance at all (0 points, 0%) and no fine-tuning: half the weights zeroed loses some accuracy
    args = ["accelerate", str(run), "--methods", "prune_unstructured", "--finetune-epochs", "0", "--repeats", "2",
            "--batch", "4", "--tolerance", "0pt,0%"]
    r = cli([*args, "--strict"], root)
    rep = json.loads((run / "accelerated" / "report.json").read_text())
    degraded = rep["rows"][1]["metric"] < rep["rows"][0]["metric"]
    assert rep["degraded"] == (["prune_unstructured"] if degraded else [])
    assert r.returncode == (1 if degraded else 0), r.stderr
    assert ("degraded (do not use): prune_unstructured" in r.stdout) == degraded
    assert cli(args, root).returncode == 0  # without --strict the table is the answer


def test_bad_input_gets_one_line(cnn_run, tmp_path):
    from typer.testing import CliRunner

    from nnml.cli import app

    root, run = cnn_run
    bare = tmp_path / "no_ckpt"
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("checkpoints", "accelerated"))
    r = CliRunner().invoke(app, ["accelerate", str(bare)])
    assert r.exit_code == 2 and "has no checkpoint best.pt" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = CliRunner().invoke(app, ["accelerate", str(run), "--methods", "int8,onnx"])
    assert r.exit_code == 2 and "--methods=int8 is not valid" in r.stderr and "int8_dynamic" in r.stderr
    r = CliRunner().invoke(app, ["accelerate", str(run), "--tolerance", "a lot"])
    assert r.exit_code == 2 and "--tolerance a lot is not valid" in r.stderr and "1pt,2%" in r.stderr


def test_distilled_student_and_the_student_alone(cnn_run):
    root, teacher = cnn_run
    student = ["experiment=digits_distill", *TINY]
    r = cli(["train", *student, f"task.teacher={teacher}"], root)
    assert r.returncode == 0, r.stderr
    distilled = run_dirs(root)[-1]
    r = cli(["train", *student, "task=auto"], root)
    assert r.returncode == 0, r.stderr
    alone = run_dirs(root)[-1]
    a, b = read_metrics(distilled), read_metrics(alone)
    assert 0 < a["test/acc"] <= 1 and a["test/acc"] != b["test/acc"]  # the teacher's targets changed training
    c = cli(["compare", str(distilled), str(alone), "--format", "json"], root)
    assert c.returncode == 0, c.stderr
    assert str(distilled.name) in c.stdout and str(alone.name) in c.stdout
    # a teacher trained on other data is refused before training, in one line
    from typer.testing import CliRunner

    from nnml.cli import app

    r = CliRunner().invoke(app, ["train", *student, f"task.teacher={teacher}", "data_seed=1",
                                 f"hydra.run.dir={root / 'refused'}"])
    assert r.exit_code == 2 and "was trained on other data (data seed: 42 vs 1)" in r.stderr
