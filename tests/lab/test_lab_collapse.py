"""Lab collapse: the merged layer equals the two layers, has the bottleneck's rank; linear stacks gain nothing."""

import pytest
import torch
from torch import nn

from nnml.cli.labs import run_lab
from nnml.errors import NnmlError
from nnml.lab.collapse import merge


def test_merge_is_the_closed_form():
    first, second = nn.Linear(5, 3), nn.Linear(3, 4)
    merged = merge(first, second)
    torch.testing.assert_close(merged.weight, second.weight @ first.weight)
    x = torch.randn(10, 5)
    torch.testing.assert_close(merged(x), second(first(x)), rtol=1e-5, atol=1e-6)


def test_lab_numbers(tmp_path):
    numbers, table = run_lab("collapse", {"bottleneck": 2}, tmp_path)
    assert numbers["merge_gap"] <= 8 * torch.finfo(torch.float32).eps * max(numbers["merge_scale"], 1.0)
    assert numbers["merged_rank"] == 2
    assert numbers["params_factorized"] == 16 * 2 + 2 + 2 * 16 + 16 and numbers["params_full"] == 16 * 16 + 16
    assert numbers["deep_linear_merge_gap"] < 1e-3
    acc = numbers["accuracy"]
    assert abs(acc["deep linear"] - acc["single linear"]) < 0.03
    assert acc["mlp (relu)"] > max(acc["deep linear"], acc["single linear"]) + 0.07
    assert (tmp_path / "collapse_moons.png").exists() and (tmp_path / "collapse.csv").exists()


def test_bad_dataset_is_refused(tmp_path):
    with pytest.raises(NnmlError, match="data=spiral is not valid; choose one of: circles, moons"):
        run_lab("collapse", {"data": "spiral"}, tmp_path)
