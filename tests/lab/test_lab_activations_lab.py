"""Lab activations: the table has every entry and the derivative gaps are rounding errors."""

import csv

import pytest

from nnml.cli.labs import run_lab
from nnml.errors import NnmlError
from nnml.models.activations import NAMES


def test_table_figure_and_gaps(tmp_path):
    numbers, table = run_lab("activations", {}, tmp_path)
    assert numbers["count"] == len(NAMES) == table.row_count
    assert numbers["max_derivative_gap"] < 1e-12
    rows = list(csv.DictReader((tmp_path / "activations.csv").open()))
    assert [r["name"] for r in rows] == list(NAMES)
    assert {"formula", "derivative", "range", "use"} <= set(rows[0])
    assert (tmp_path / "activations.png").stat().st_size > 10_000
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def test_unknown_name_and_key_are_refused(tmp_path):
    with pytest.raises(NnmlError, match="names=sigmod .*did you mean 'sigmoid'"):
        run_lab("activations", {"names": ["relu", "sigmod"]}, tmp_path)
    with pytest.raises(NnmlError, match="'xmn' is not a key of lab activations.*'xmin'"):
        run_lab("activations", {"xmn": 1}, tmp_path)
