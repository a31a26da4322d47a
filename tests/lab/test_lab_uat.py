"""Lab uat against the facts of FIELD_NOTES ("Lecture facts") and Cybenko's theorem."""

import math

import pytest

from nnml.cli.labs import run_lab
from nnml.errors import NnmlError


def _errors(numbers):
    return dict(zip(numbers["widths"], numbers["sup_error"])), dict(zip(numbers["widths"], numbers["l2_error"]))


def test_sin_sup_error_falls_below_0_1_by_width_64(tmp_path):
    numbers, table = run_lab("uat", {"target": "sin"}, tmp_path)
    sup, l2 = _errors(numbers)
    assert numbers["method"] == "lstsq" and "least squares" in table.caption
    assert sup[4] > 0.2  # a handful of sigmoids cannot follow a full sine period
    assert all(sup[w] < 0.1 for w in (64, 128, 256))
    assert l2[256] < 1e-3
    assert (tmp_path / "uat_fits_sin.png").exists() and (tmp_path / "uat_sin_lstsq.csv").exists()


def test_step_keeps_sup_error_near_half_the_jump_while_l2_falls(tmp_path):
    numbers, table = run_lab("uat", {"target": "step"}, tmp_path)
    sup, l2 = _errors(numbers)
    assert not numbers["continuous"] and "discontinuous" in table.caption
    assert all(e >= 0.4 for e in sup.values())
    assert l2[256] < l2[4] / 3


@pytest.mark.parametrize("target", ["abs", "polynomial"])
def test_other_continuous_targets_are_approximated(tmp_path, target):
    sup, _ = _errors(run_lab("uat", {"target": target, "widths": [2, 64]}, tmp_path)[0])
    assert sup[64] < 0.05 < sup[2]


def test_trained_method_is_reported_and_approximates(tmp_path):
    numbers, table = run_lab("uat", {"method": "train", "widths": [1, 32], "restarts": 1, "train_steps": 800},
                             tmp_path)
    sup, _ = _errors(numbers)
    assert numbers["method"] == "train" and "trained with Adam" in table.caption
    assert sup[32] < 0.15 and sup[1] > 0.5  # one sigmoid is monotonic; sin(2 pi x) is not (sup >= 1/2 ... 1)
    assert all(math.isfinite(e) for e in numbers["l2_error"])


def test_bad_target_and_method_are_refused(tmp_path):
    with pytest.raises(NnmlError, match="target=sine .*did you mean 'sin'"):
        run_lab("uat", {"target": "sine"}, tmp_path)
    with pytest.raises(NnmlError, match="method=sgd is not valid; choose one of: lstsq, train"):
        run_lab("uat", {"method": "sgd"}, tmp_path)
