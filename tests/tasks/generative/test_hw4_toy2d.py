"""2-D toy data and the mode measures (modes covered, share of high quality samples)."""

from __future__ import annotations

import math

import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.generative import toy2d
from nnml.tasks.generative.toy_measures import mode_measures


def test_ring_points_lie_on_their_modes():
    d = toy2d.ring(seed=0, n_samples=4000)
    assert d.task == "points2d" and d.input_shape == (2,) and d.num_outputs == 8
    assert d.sizes() == {"train": 3200, "val": 400, "test": 400}
    centres = torch.tensor(d.meta["modes"], dtype=torch.float64)
    torch.testing.assert_close(centres.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    # Labels are the mode index: each point is near its own centre, at the given spread.
    err = d.x_train.double() - centres[d.y_train]
    assert err.std().item() == pytest.approx(0.02, rel=0.05)
    again = toy2d.ring(seed=0, n_samples=4000)
    assert torch.equal(again.x_test, d.x_test) and not torch.equal(toy2d.ring(seed=1, n_samples=4000).x_test, d.x_test)


def test_measures_on_the_data_itself_and_on_a_collapse():
    d = toy2d.ring(seed=0, n_samples=4000)
    m = mode_measures(d.x_train, d.meta["modes"], d.meta["mode_std"])
    assert m["modes_covered"] == 8
    # Within 3 std of the centre in 2-D: P(chi_2 <= 3) = 1 - exp(-4.5).
    assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert m["mode_kl"] < 0.01
    collapsed = d.x_train[d.y_train < 3]
    m = mode_measures(collapsed, d.meta["modes"], d.meta["mode_std"])
    assert m["modes_covered"] == 3 and m["mode_kl"] == pytest.approx(math.log(8 / 3), abs=0.02)
    blurry = d.x_train + torch.randn_like(d.x_train) * 0.3
    assert mode_measures(blurry, d.meta["modes"], d.meta["mode_std"])["high_quality"] < 0.1


def test_grid_moons_roll_and_bad_keys():
    g = toy2d.grid(seed=0, n_samples=5000)
    assert g.num_outputs == 25 and torch.tensor(g.meta["modes"]).abs().max() == 4.0
    assert mode_measures(g.x_train, g.meta["modes"], g.meta["mode_std"])["modes_covered"] == 25
    with pytest.raises(NnmlError, match="dataset.modes=24 is not valid for a grid"):
        toy2d.grid(seed=0, modes=24)
    m = toy2d.two_moons(seed=0, n_samples=2000)
    assert set(m.y_train.tolist()) == {0, 1} and m.x_train[:, 0].min() < -0.8 and m.x_train[:, 0].max() > 1.8
    r = toy2d.swiss_roll(seed=0, n_samples=2000)
    assert r.num_outputs == 1 and r.x_train.norm(dim=1).max() < 1.3
    with pytest.raises(NnmlError, match="dataset.spread=0"):
        toy2d.ring(seed=0, spread=0)
