"""The usability verdict: a variant that loses more of the original's test metric than the tolerance is degraded
(never ok), in the metric's direction; the tolerance's forms parse; the numbers are checked in closed form."""

from __future__ import annotations

import math

import pytest

from nnml.accelerate import report
from nnml.accelerate.verdict import Tolerance, judge, standard_error
from nnml.errors import NnmlError


@pytest.mark.parametrize("text, points, percent, absolute", [
    (None, 1.0, 2.0, None), ("1pt,2%", 1.0, 2.0, None), ("0.5pt", 0.5, None, None), ("3%", None, 3.0, None),
    ("0.02", None, None, 0.02), (" 2 points , 1 % ", 2.0, 1.0, None)])
def test_tolerance_forms(text, points, percent, absolute):
    t = Tolerance.parse(text)
    assert (t.points, t.percent, t.absolute) == (points, percent, absolute)


@pytest.mark.parametrize("text", ["lots", "1pt,x", "-1%", ","])
def test_bad_tolerance_is_one_line(text):
    with pytest.raises(NnmlError, match="--tolerance"):
        Tolerance.parse(text)


def test_allowed_loss_is_the_largest_allowance_that_applies():
    t = Tolerance.parse("1pt,2%")
    assert t.allowed(0.928, "max") == pytest.approx(0.928 * 0.02)  # 1.856 points > 1 point
    assert t.allowed(0.30, "max") == pytest.approx(0.01)  # 1 point > 0.6 points
    assert t.allowed(0.30, "min") == pytest.approx(0.006)  # a loss-like metric: no points, only the 2%
    assert t.allowed(40.0, "max") == pytest.approx(0.8)  # not a fraction (BLEU 40): only the 2%
    assert Tolerance.parse("0pt").allowed(0.9, "max") == 0.0


def test_a_variant_that_loses_more_is_degraded_never_ok():
    t = Tolerance.parse(None)
    row = {"variant": "int8_dynamic", "metric": 0.1671, "notes": "int8 weights"}
    judge(row, 0.8614, "miou", "max", t)
    assert row["status"] == "degraded" and row["usable"] is False
    assert row["metric_loss"] == pytest.approx(0.8614 - 0.1671) and row["allowed_loss"] == pytest.approx(0.017228)
    assert row["notes"].startswith("DEGRADED: loses 0.6943 test miou (0.8614 -> 0.1671") and "int8 weights" in row["notes"]
    ok = {"variant": "onnx", "metric": 0.8600}
    judge(ok, 0.8614, "miou", "max", t)
    assert ok["status"] == "ok" and ok["usable"] and ok["verdict"] == ""
    better = {"variant": "prune", "metric": 0.95}
    judge(better, 0.8614, "miou", "max", t)
    assert better["status"] == "ok" and better["metric_loss"] < 0


def test_direction_min_counts_a_higher_error_as_the_loss():
    t = Tolerance.parse("5%")
    row = {"variant": "x", "metric": 0.60}
    judge(row, 0.50, "rmse", "min", t)  # 0.10 worse, 0.025 allowed
    assert row["status"] == "degraded" and row["metric_loss"] == pytest.approx(0.10)
    row = {"variant": "y", "metric": 0.40}
    judge(row, 0.50, "rmse", "min", t)
    assert row["status"] == "ok"


@pytest.mark.parametrize("value", [None, float("nan")])
def test_a_metric_that_cannot_be_read_is_unchecked_not_ok(value):
    row = {"variant": "x", "metric": value}
    judge(row, 0.9, "acc", "max", Tolerance.parse(None))
    assert row["status"] == "unchecked" and not row["usable"]


def test_standard_error_is_binomial_for_fractions_only():
    assert standard_error(0.9, 400, "max") == pytest.approx(math.sqrt(0.9 * 0.1 / 400))
    assert standard_error(0.9, 400, "min") is None and standard_error(12.0, 400, "max") is None


def test_report_lines_name_usable_and_degraded():
    rows = [{"variant": "original", "status": "ok", "metric": 0.9, "usable": True},
            {"variant": "onnx", "status": "ok", "metric": 0.9, "usable": True},
            {"variant": "int8_dynamic", "status": "degraded", "metric": 0.2, "metric_loss": 0.7, "usable": False}]
    rep = {"rows": rows, "metric": "acc", "tolerance": {"text": "1pt,2%"}, "usable": ["onnx"],
           "standard_error": 0.015, "n_test": 400}
    lines = report.verdict_lines(rep)
    assert lines[0].startswith("usable (losing at most 1pt,2% of the original's test acc 0.9000") and \
        lines[0].endswith(": onnx")
    assert lines[1] == "degraded (do not use): int8_dynamic (-0.7000)"
