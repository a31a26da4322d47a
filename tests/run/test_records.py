"""Every run saves the per-sample records of its val and test splits (predictions/<split>.npz) from which its
metrics are recomputed, and its metrics carry 95% intervals: Wilson's for accuracies (statsmodels is the oracle),
a percentile bootstrap over the samples for the rest (scipy's on the same resamples). The other tracks check
their records on their own tiny runs (tests/tasks/*/test_hw*_cli.py, test_hw4_tasks.py)."""

from __future__ import annotations

import numpy as np
import pytest

from nnml import stats
from nnml.run import records as R
from tests.conftest import assert_records_reproduce_metrics, read_metrics


def test_classification_records_metrics_and_intervals(train_in_process):
    from statsmodels.stats.proportion import proportion_confint

    result, run = train_in_process("logger=none")
    assert result.exit_code == 0, result.output
    m = read_metrics(run)
    out = assert_records_reproduce_metrics(run)
    records, spec = out["test"]
    assert spec == {"kind": "classification"}
    assert np.array_equal(records["index"], np.arange(len(records["index"])))
    assert records["probs"].shape == (len(records["index"]), 10)
    assert np.array_equal(records["pred"], records["probs"].argmax(1))
    n, right = len(records["target"]), int(np.sum(records["pred"] == records["target"]))
    assert m["test/acc"] == pytest.approx(right / n)
    assert m["intervals"]["test/acc"] == pytest.approx(list(proportion_confint(right, n, method="wilson")), abs=1e-12)
    assert m["interval_methods"]["test/acc"] == f"Wilson, n = {n}"
    boot = stats.bootstrap_intervals(lambda r: R.metrics(spec, r), records, n_resamples=R.RESAMPLES, seed=0)
    assert m["intervals"]["test/f1"] == pytest.approx(list(boot["f1"]), abs=1e-12)
    assert "bootstrap, 2000 resamples" in m["interval_methods"]["test/f1"]
    # the results table shows them, with a line saying what they are
    assert "95% CI" in result.output and "Wilson for acc" in result.output


def test_regression_records_and_bootstrap_intervals(train_in_process):
    result, run = train_in_process("dataset=diabetes", "loss=mse", "logger=none")
    assert result.exit_code == 0, result.output
    records, spec = assert_records_reproduce_metrics(run)["test"]
    assert spec == {"kind": "regression"} and records["target"].shape == records["pred"].shape
    m = read_metrics(run)
    for name in ("mse", "mae", "r2"):
        lo, hi = m["intervals"][f"test/{name}"]
        assert lo <= hi and "bootstrap" in m["interval_methods"][f"test/{name}"]


def test_records_files_are_data_and_bad_ones_are_one_line(tmp_path):
    from nnml.errors import NnmlError

    rec = {"index": np.arange(4), "target": np.array([0, 1, 1, 0]), "pred": np.array([0, 1, 0, 0]),
           "hits@10": np.ones(4)}
    R.save(tmp_path, "test", rec, {"kind": "classification"})
    back, spec = R.load(tmp_path, "test")
    assert spec == {"kind": "classification"} and set(back) == set(rec)
    assert all(np.array_equal(back[k], rec[k]) for k in rec)
    assert R.metrics(spec, back)["acc"] == 0.75
    with pytest.raises(NnmlError, match="has no per-sample records"):
        R.load(tmp_path, "val")
    with pytest.raises(NnmlError, match="records of kind 'nope' are not known"):
        R.save(tmp_path, "val", rec, {"kind": "nope"})
    (tmp_path / "predictions" / "val.npz").write_bytes(b"not a zip")
    with pytest.raises(NnmlError, match="not a records file"):
        R.load(tmp_path, "val")


def test_same_samples_names_what_differs():
    a = {"index": np.arange(3), "target": np.array([0, 1, 2])}
    assert R.same_samples(a, dict(a)) is None
    assert R.same_samples(a, {"index": np.arange(4), "target": np.zeros(4)}) == "A has 3 samples, B has 4"
    assert R.same_samples(a, {"index": np.arange(3), "target": np.array([0, 1, 1])}) == "their targets differ"
    assert R.same_samples(a, {"index": np.array([0, 2, 1]), "target": a["target"]}) == "their sample positions differ"
