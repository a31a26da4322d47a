"""ALS against its oracles: the normal equations solved densely in float64 (implicit and explicit), and
``implicit``'s AlternatingLeastSquares from the same initial factors (exact and conjugate-gradient solvers);
ranking metrics against ``implicit.evaluation.ranking_metrics_at_k`` on the same factors and against a plain
Python loop for the metrics implicit does not report."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from nnml.tasks.recsys.als import ALS
from nnml.tasks.recsys.datasets import synthetic_interactions
from nnml.tasks.recsys.interactions import Interactions
from nnml.tasks.recsys.metrics import ranking_metrics, rating_errors

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit warns (and slows down) otherwise


@pytest.fixture(scope="module")
def data():
    return synthetic_interactions(seed=3, num_users=200, num_items=150, interactions_per_user=20, val_fraction=0.0)


def _als(data, **kw):
    torch.manual_seed(0)
    m = ALS(data.meta["num_users"], data.meta["num_items"], **kw)
    m.prepare(data.train)
    return m


def test_cholesky_half_step_solves_the_normal_equations(data):
    """One user half-step against the textbook dense solve of (Y^T C_u Y + reg I) x = Y^T C_u p_u in float64."""
    alpha, reg = 3.0, 0.1
    m = _als(data, factors=6, regularization=reg, alpha=alpha, dtype="float64")
    Y = m.item_factors.detach().clone()
    m._half(m.user_factors, m.item_factors, m._sides["user"], m._empty["user"])
    R = data.train.matrix().double()
    for u in range(0, data.meta["num_users"], 17):
        c = 1 + alpha * R[u]
        p = (R[u] > 0).double()
        A = Y.T @ (c[:, None] * Y) + reg * torch.eye(6, dtype=torch.float64)
        want = torch.linalg.solve(A, Y.T @ (c * p))
        torch.testing.assert_close(m.user_factors[u], want, rtol=1e-9, atol=1e-10)


def test_explicit_als_is_ridge_regression_per_user():
    train = Interactions.from_arrays([0, 0, 0, 1, 1, 2], [0, 1, 3, 1, 2, 3], [5.0, 3.0, 1.0, 4.0, 2.0, 5.0],
                                     num_users=4, num_items=4)
    torch.manual_seed(1)
    m = ALS(4, 4, factors=2, regularization=0.5, feedback="explicit", dtype="float64", init_scale=1.0)
    m.prepare(train)
    Y = m.item_factors.detach().clone()
    m._half(m.user_factors, m.item_factors, m._sides["user"], m._empty["user"])
    for u, items, r in ((0, [0, 1, 3], [5.0, 3.0, 1.0]), (1, [1, 2], [4.0, 2.0]), (2, [3], [5.0])):
        Yu = Y[items]
        want = torch.linalg.solve(Yu.T @ Yu + 0.5 * torch.eye(2, dtype=torch.float64),
                                  Yu.T @ torch.tensor(r, dtype=torch.float64))
        torch.testing.assert_close(m.user_factors[u], want)
    assert torch.equal(m.user_factors[3], torch.zeros(2, dtype=torch.float64)), "a user without ratings gets 0"
    # Explicit ALS fits the ratings it saw better and better.
    errs = []
    for _ in range(5):
        m.iteration()
        errs.append(rating_errors(m.predict, train)["rmse"])
    assert errs[-1] < errs[0] < 2.0


@pytest.mark.parametrize("solver, atol", [("cholesky", 2e-4), ("cg", 2e-2)])
def test_factors_match_implicit_from_the_same_start(data, solver, atol):
    from implicit.cpu.als import AlternatingLeastSquares

    alpha = 2.0
    m = _als(data, factors=16, regularization=0.1, alpha=alpha, solver=solver)
    ref = AlternatingLeastSquares(factors=16, regularization=0.1, alpha=1.0, iterations=3, use_cg=solver == "cg",
                                  num_threads=1, random_state=0)
    ref.user_factors = m.user_factors.numpy().copy()
    ref.item_factors = m.item_factors.numpy().copy()
    confidence = data.train.to_scipy()
    confidence.data = 1 + alpha * confidence.data  # implicit's confidence is its input times its alpha
    ref.fit(confidence, show_progress=False)
    losses = []
    for _ in range(3):
        m.iteration()
        losses.append(float(m.loss()))
    np.testing.assert_allclose(m.user_factors.numpy(), ref.user_factors, atol=atol)
    np.testing.assert_allclose(m.item_factors.numpy(), ref.item_factors, atol=atol)
    assert losses[-1] <= losses[0] + 1e-9


def _python_metrics(top, test_sets, k):
    """Per-user loops over plain lists: the definitions in nnml.tasks.recsys.metrics' docstring."""
    prec_h = prec_d = rec = ap = ndcg = hit = 0.0
    seen = set()
    users = [u for u in range(len(test_sets)) if test_sets[u]]
    for u in users:
        t, r = test_sets[u], top[u][:k]
        seen.update(r)
        hits = [1.0 if i in t else 0.0 for i in r]
        d = min(k, len(t))
        prec_h += sum(hits)
        prec_d += d
        rec += sum(hits) / len(t)
        ap += sum(sum(hits[:j + 1]) / (j + 1) for j in range(k) if hits[j]) / d
        ndcg += sum(h / math.log2(j + 2) for j, h in enumerate(hits)) / sum(1 / math.log2(j + 2) for j in range(d))
        hit += float(sum(hits) > 0)
    n = len(users)
    return {"precision": prec_h / prec_d, "recall": rec / n, "map": ap / n, "ndcg": ndcg / n, "hit_rate": hit / n,
            "coverage": len(seen)}


def test_ranking_metrics_equal_implicit_and_the_definitions(data):
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.evaluation import ranking_metrics_at_k

    m = _als(data, factors=12, regularization=0.05, alpha=1.0, solver="cg")
    for _ in range(4):
        m.iteration()
    ref = AlternatingLeastSquares(factors=12, num_threads=1, random_state=0)
    ref.user_factors, ref.item_factors = m.user_factors.numpy().copy(), m.item_factors.numpy().copy()
    train, test = data.train.to_scipy(), data.test.to_scipy()
    train_rows, test_rows = data.train.rows("user"), data.test.rows("user")
    ours = ranking_metrics(m.scores, test_rows, train_rows, ks=[5, 10], batch_users=64)
    for k in (5, 10):
        theirs = ranking_metrics_at_k(ref, train, test, K=k, show_progress=False)
        for name in ("precision", "map", "ndcg"):
            assert ours[f"{name}@{k}"] == pytest.approx(theirs[name], rel=1e-12, abs=1e-12), (name, k)

    # The rest against per-user Python loops over the same top lists.
    scores = m.scores(torch.arange(data.meta["num_users"])).masked_fill(
        train_rows.mask(torch.arange(data.meta["num_users"])), float("-inf"))
    top = torch.topk(scores, 10, 1).indices.tolist()
    test_sets = [set(test_rows.row(u)[0].tolist()) for u in range(data.meta["num_users"])]
    want = _python_metrics(top, test_sets, 10)
    for name in ("precision", "recall", "map", "ndcg", "hit_rate"):
        assert ours[f"{name}@10"] == pytest.approx(want[name], rel=1e-12), name
    assert ours["coverage@10"] == pytest.approx(want["coverage"] / data.meta["num_items"])


def test_excluded_items_never_count_and_short_lists_are_safe():
    """A user whose every item but one is excluded: the -inf tail is not a hit and not covered."""
    train = Interactions.from_arrays([0, 0, 0], [0, 1, 2], num_users=1, num_items=4)
    test = Interactions.from_arrays([0], [3], num_users=1, num_items=4)
    out = ranking_metrics(lambda u: torch.zeros(len(u), 4), test.rows("user"), train.rows("user"), ks=[3])
    assert out["precision@3"] == 1.0 and out["hit_rate@3"] == 1.0 and out["coverage@3"] == 0.25


def test_gradient_rivals_learn_what_the_baselines_cannot():
    """MF by gradient on explicit ratings beats the global mean's RMSE; BPR beats most-popular's NDCG@10."""
    from nnml.tasks.recsys.models import BPR, MF, MostPopular

    torch.manual_seed(0)
    d = synthetic_interactions(seed=5, num_users=200, num_items=150, interactions_per_user=25, feedback="explicit")
    nu, ni = d.meta["num_users"], d.meta["num_items"]
    t = d.train
    mf = MF(nu, ni, factors=8, regularization=0.1)
    mf.fit_mean(t, explicit=True)
    bpr = BPR(nu, ni, factors=16, regularization=1e-4)
    for model, lr, steps in ((mf, 0.01, 300), (bpr, 0.02, 150)):
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            ix = torch.randint(0, len(t), (512,))
            if model is mf:
                loss = mf.loss(t.users[ix], t.items[ix], t.values[ix])
            else:
                loss = bpr.loss(t.users[ix], t.items[ix], torch.randint(0, ni, (512,)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    mean_rmse = float((d.test.values - t.values.mean()).pow(2).mean().sqrt())
    assert rating_errors(mf.predict, d.test, (1, 5))["rmse"] < 0.95 * mean_rmse
    pop = MostPopular(nu, ni)
    pop.fit(t)
    exclude, test = t.rows("user"), d.test.rows("user")
    with torch.no_grad():
        assert ranking_metrics(bpr.scores, test, exclude)["ndcg@10"] > ranking_metrics(pop.scores, test,
                                                                                        exclude)["ndcg@10"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_als_on_cuda_matches_the_cpu(data, solver):
    cpu = _als(data, factors=16, regularization=0.1, alpha=2.0, solver=solver)
    torch.manual_seed(0)
    gpu = ALS(data.meta["num_users"], data.meta["num_items"], factors=16, regularization=0.1, alpha=2.0,
              solver=solver).cuda()
    gpu.load_state_dict(cpu.state_dict())
    gpu.prepare(data.train)
    for _ in range(3):
        cpu.iteration()
        gpu.iteration()
    torch.testing.assert_close(gpu.user_factors.cpu(), cpu.user_factors, atol=1e-3, rtol=1e-3)
    a = ranking_metrics(cpu.scores, data.test.rows("user"), data.train.rows("user"))
    b = ranking_metrics(gpu.scores, data.test.to("cuda").rows("user"), data.train.to("cuda").rows("user"))
    assert abs(a["precision@10"] - b["precision@10"]) < 0.01
