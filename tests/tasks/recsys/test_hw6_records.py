"""Per-user ranking records reproduce ranking_metrics (tested against implicit in test_hw6_als.py) on any subset
of users; rating records reproduce rating_errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnml import stats
from nnml.tasks.recsys.datasets import synthetic_interactions
from nnml.tasks.recsys.interactions import Interactions
from nnml.tasks.recsys.metrics import ranking_metrics, rating_errors
from nnml.tasks.recsys.records import ranking_from_records, ranking_records, rating_records, ratings_from_records


def _scorer(num_users, num_items, seed=0):
    g = torch.Generator().manual_seed(seed)
    u, v = torch.randn(num_users, 6, generator=g), torch.randn(num_items, 6, generator=g)
    return lambda users: u[users] @ v.T


@pytest.mark.parametrize("num_items,per_user", [(150, 20), (25, 20)])  # 25 items: fewer candidates than k
def test_ranking_records_reproduce_ranking_metrics_on_user_subsets(num_items, per_user):
    data = synthetic_interactions(seed=3, num_users=120, num_items=num_items, interactions_per_user=per_user,
                                  val_fraction=0.0)
    num_items = data.train.num_items  # items nobody interacted with are dropped
    score = _scorer(data.train.num_users, num_items)
    train_rows, test = data.train.rows("user"), data.test
    rec = ranking_records(score, test.rows("user"), train_rows, ks=[5, 10], batch_users=32)
    if num_items == 25:
        assert (rec["top"] == -1).any()
    whole = ranking_metrics(score, test.rows("user"), train_rows, ks=[5, 10], batch_users=32)
    assert ranking_from_records(rec, num_items) == pytest.approx(whole, rel=1e-12, abs=1e-15)
    rng = np.random.default_rng(0)
    for _ in range(3):
        chosen = rng.choice(rec["user"], size=len(rec["user"]) // 3, replace=False)
        keep = np.isin(rec["user"], chosen)
        sub_test = test.take(torch.from_numpy(np.nonzero(np.isin(test.users.numpy(), chosen))[0]))
        want = ranking_metrics(score, sub_test.rows("user"), train_rows, ks=[5, 10], batch_users=32)
        assert ranking_from_records(stats.take(rec, keep), num_items) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_ranking_records_without_held_out_items():
    empty = Interactions.from_arrays([], [], num_users=4, num_items=6)
    rec = ranking_records(_scorer(4, 6), empty.rows("user"), None, ks=[3])
    assert len(rec["user"]) == 0 and rec["top"].shape == (0, 3)
    assert ranking_from_records(rec, 6) == ranking_metrics(_scorer(4, 6), empty.rows("user"), None, ks=[3])


def test_rating_records_reproduce_rating_errors():
    rng = np.random.default_rng(2)
    split = Interactions.from_arrays(rng.integers(0, 30, 200), rng.integers(0, 40, 200), rng.integers(1, 6, 200))
    g = torch.Generator().manual_seed(1)
    bias = torch.randn(30, generator=g) * 2

    def predict(users, items):
        return 3.0 + bias[users] + 0.01 * items

    for clip in (None, (1.0, 5.0)):
        rec = rating_records(predict, split, clip)
        for idx in (np.arange(200), rng.integers(0, 200, 200)):
            want = rating_errors(predict, split.take(torch.from_numpy(idx)), clip)
            assert ratings_from_records(stats.take(rec, idx)) == pytest.approx(want, rel=1e-12)
