"""Run folders written by nnml 0.1.0, before each kind of learning got its own folder (tests/fixtures/runs_v0_1:
their configs name the old ``_target_`` paths, nnml/config/aliases.py maps them), still evaluate to the numbers
``nnml eval`` printed then, predict what ``nnml predict`` printed then, and resume."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from tests.conftest import invoke, run_cli

FIXTURES = Path(__file__).parents[1] / "fixtures" / "runs_v0_1"
KINDS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
PREDICT = {  # kind -> the inputs nnml predict was given when the .predict.json file was written
    "text_classification": ["bonjour le monde", "guten tag"],
    "seq2seq": ["one hundred and five"],
    "token_classification": ["John Smith lives in Paris"],
    "recommendation": ["3"],
}


def _cli(args, cwd):
    return invoke(args, cwd)


def _same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        if isinstance(b[k], float) and math.isnan(b[k]):
            assert math.isnan(a[k]), k
        else:
            assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-7), k


def test_the_fixtures_name_the_old_paths():
    old = [(FIXTURES / k / ".hydra" / "config.yaml").read_text() for k in KINDS]
    assert len(KINDS) == 9
    assert any("nnml.models.unet.UNet" in text for text in old)
    assert any("nnml.data.sklearn_sets.digits" in text for text in old)
    assert not any("nnml.tasks.segmentation.unet" in text for text in old)


# nnml 0.1.0's Faker NER data drew its dates between 1970 and the current time, so a token_classification run's own
# data can never be built again (its vocabulary changed from one second to the next); the dates now end on a fixed
# day. Such a folder evaluates with its own tokenizers (tokenizer_*.json) on data that differs from its own only in
# some dates: the numbers agree closely, not exactly.
CLOCK_DEPENDENT = {"token_classification"}


@pytest.mark.parametrize("kind", KINDS)
def test_old_folder_evaluates_to_the_same_numbers(kind, tmp_path):
    run = tmp_path / kind
    shutil.copytree(FIXTURES / kind, run)
    r = _cli(["eval", str(run), "--json"], tmp_path)
    assert r.exit_code == 0, r.output
    expected = json.loads((FIXTURES / f"{kind}.eval.json").read_text())
    got = json.loads(r.stdout.strip().splitlines()[-1])
    if kind in CLOCK_DEPENDENT:
        assert set(got) == set(expected) and abs(got["test/loss"] - expected["test/loss"]) < 0.01 * expected["test/loss"]
        assert abs(got["test/token_acc"] - expected["test/token_acc"]) < 0.01
        return
    _same(got, expected)


@pytest.mark.parametrize("kind", sorted(PREDICT))
def test_old_folder_predicts_what_it_predicted(kind, tmp_path):
    run = tmp_path / kind
    shutil.copytree(FIXTURES / kind, run)
    r = _cli(["predict", str(run), *PREDICT[kind], "--json"], tmp_path)
    assert r.exit_code == 0, r.output
    got = [json.loads(line) for line in r.stdout.strip().splitlines()]
    want = [json.loads(line) for line in (FIXTURES / f"{kind}.predict.json").read_text().strip().splitlines()]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert set(g) == set(w)
        for key in w:
            if isinstance(w[key], float):
                assert g[key] == pytest.approx(w[key], rel=1e-4, abs=1e-4), key
            elif isinstance(w[key], dict):
                assert g[key] == pytest.approx(w[key], rel=1e-3, abs=1e-3), key
            else:
                assert g[key] == w[key], key


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["supervised", "recommendation"])
def test_old_folder_resumes(kind, tmp_path):
    run = tmp_path / kind
    shutil.copytree(FIXTURES / kind, run)
    before = json.loads((run / "metrics.json").read_text())
    r = run_cli(["train", f"resume={run}", f"trainer.max_epochs={before['epochs'] + 1}", "trainer.num_threads=1"],
                tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    after = json.loads((run / "metrics.json").read_text())
    assert after["epochs"] == before["epochs"] + 1 and len(after["segments"]) == 2
    assert (run / ".hydra" / "config.original.yaml").is_file()  # what it was started with, kept beside it


def test_a_one_cycle_run_is_not_extended_but_says_why(tmp_path):
    run = tmp_path / "segmentation"
    shutil.copytree(FIXTURES / "segmentation", run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    r = _cli(["train", f"resume={run}", "trainer.max_epochs=3"], tmp_path)
    assert r.exit_code == 2 and "cannot be extended" in r.output and "Traceback" not in r.output, r.output
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # a refused resume writes nothing
