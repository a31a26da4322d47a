"""Per-user records of a ranking evaluation (and per-rating records of rating errors), from which the metrics of
``nnml/tasks/recsys/metrics.py`` are recomputed exactly on any subset of users (what
:func:`nnml.stats.paired_bootstrap` resamples: users are the independent samples of a ranking evaluation).

Ranking records (one row per user with held-out items, in user order), for each k of ``ks``::

    user           int64 (N,)         the user
    relevant       int64 (N,)         |T_u|, the user's held-out items
    hits@k         float64 (N,)       h_u, held-out items in the top k
    denom@k        float64 (N,)       d_u = min(k, |T_u|)
    recall@k       float64 (N,)       h_u / |T_u|
    map@k          float64 (N,)       the user's average precision at k
    ndcg@k         float64 (N,)       the user's NDCG at k
    hit_rate@k     float64 (N,)       1 if h_u > 0
    top            int64 (N, kmax)    the top kmax items (-1 where fewer candidates than kmax: excluded items)

:func:`ranking_from_records` gives ``precision@k`` = sum h_u / sum d_u (implicit's definition), the means of
``recall@k``, ``map@k``, ``ndcg@k``, ``hit_rate@k``, and ``coverage@k`` (the share of the ``num_items`` items found
in some user's top k).

Rating records (explicit feedback; one row per held-out rating)::

    user, item     int64 (N,)
    error          float64 (N,)       predicted (clipped to the rating range) minus true rating

:func:`ratings_from_records` gives ``rmse`` and ``mae``. These rows are ratings, not users: resampling them
treats ratings as independent, which they are not within a user. A run saves them summed per user beside its
ranking records (:func:`user_rating_sums`: ``ratings``, ``sq_error``, ``abs_error``), from which
:func:`ratings_from_records` gives the same RMSE and MAE on any subset of users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from nnml.tasks.recsys.interactions import Interactions, Rows
from nnml.tasks.recsys.metrics import per_user_ranking, top_k


@torch.no_grad()
def ranking_records(score_fn: Callable[[torch.Tensor], torch.Tensor], test: Rows, exclude: Rows | None,
                    ks: Iterable[int] = (10,), batch_users: int = 1024) -> dict[str, np.ndarray]:
    """The records of ranking every item for each user with held-out items in ``test`` (``exclude``: the items
    each user may not be recommended), as :func:`nnml.tasks.recsys.metrics.ranking_metrics` ranks them."""
    ks = sorted({int(k) for k in ks})
    kmax = ks[-1]
    device = test.indices.device
    lengths = test.lengths()
    users = torch.nonzero(lengths > 0).view(-1)
    disc = 1.0 / torch.log2(torch.arange(2, kmax + 2, device=device, dtype=torch.float64))
    idcg = torch.cumsum(disc, 0)
    names = ("hits", "denom", "recall", "map", "ndcg", "hit_rate")
    parts: dict[str, list[torch.Tensor]] = {"top": [], **{f"{m}@{k}": [] for k in ks for m in names}}
    for start in range(0, len(users), batch_users):
        u = users[start:start + batch_users]
        items, scores = top_k(score_fn, u, kmax, exclude)
        valid = torch.isfinite(scores)
        parts["top"].append(torch.where(valid, items, torch.full_like(items, -1)))
        rel = (test.mask(u).gather(1, items) & valid).double()
        n = lengths[u].double()
        for k in ks:
            for name, v in per_user_ranking(rel, n, k, disc, idcg).items():
                parts[f"{name}@{k}"].append(v)
    out = {"user": users.cpu().numpy().astype(np.int64), "relevant": lengths[users].cpu().numpy().astype(np.int64)}
    for name, chunks in parts.items():
        if chunks:
            out[name] = torch.cat(chunks).cpu().numpy()
        else:  # no user with held-out items
            out[name] = np.zeros((0, kmax) if name == "top" else 0, dtype=np.int64 if name == "top" else np.float64)
    return out


def ranking_from_records(records, num_items: int) -> dict[str, float]:
    """The ranking metrics of ``records`` for every k they hold; ``num_items``: the catalogue size (coverage)."""
    ks = sorted(int(key.split("@")[1]) for key in records if key.startswith("hits@"))
    n_users = max(len(records["user"]), 1)
    top = np.asarray(records["top"])
    out: dict[str, float] = {}
    for k in ks:
        hits, d = np.asarray(records[f"hits@{k}"]), np.asarray(records[f"denom@{k}"])
        shown = top[:, :k]
        out.update({f"precision@{k}": float(hits.sum() / max(d.sum(), 1.0)),
                    f"recall@{k}": float(np.sum(records[f"recall@{k}"]) / n_users),
                    f"map@{k}": float(np.sum(records[f"map@{k}"]) / n_users),
                    f"ndcg@{k}": float(np.sum(records[f"ndcg@{k}"]) / n_users),
                    f"hit_rate@{k}": float(np.sum(records[f"hit_rate@{k}"]) / n_users),
                    f"coverage@{k}": float(np.unique(shown[shown >= 0]).size / max(int(num_items), 1))})
    return out


@torch.no_grad()
def rating_records(predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], split: Interactions,
                   clip: tuple[float, float] | None = None) -> dict[str, np.ndarray]:
    """The records of predicted ratings on ``split`` (clipped to ``clip`` when given), as
    :func:`nnml.tasks.recsys.metrics.rating_errors` computes them."""
    pred = predict(split.users, split.items).double() if len(split) else torch.zeros(0, dtype=torch.float64)
    if clip is not None:
        pred = pred.clamp(*clip)
    err = pred - split.values.double().to(pred.device)
    return {"user": split.users.cpu().numpy().astype(np.int64), "item": split.items.cpu().numpy().astype(np.int64),
            "error": err.cpu().numpy()}


def user_rating_sums(rating: dict, users) -> dict[str, np.ndarray]:
    """Rating records summed per user, one row per user of ``users`` (the ranking records' ``user``), so that RMSE
    and MAE are recomputed on any subset of users and resampled with them::

        ratings     int64 (N,)     the user's held-out ratings
        sq_error    float64 (N,)   sum of squared errors
        abs_error   float64 (N,)   sum of absolute errors
    """
    users = np.asarray(users, dtype=np.int64)
    size = int(max(users.max(initial=-1), np.asarray(rating["user"]).max(initial=-1))) + 1
    err = np.asarray(rating["error"], dtype=np.float64)
    u = np.asarray(rating["user"], dtype=np.int64)
    return {"ratings": np.bincount(u, minlength=size)[users].astype(np.int64),
            "sq_error": np.bincount(u, weights=err * err, minlength=size)[users],
            "abs_error": np.bincount(u, weights=np.abs(err), minlength=size)[users]}


def ratings_from_records(records) -> dict[str, float]:
    """``rmse`` and ``mae`` of rating records, per rating (``error``) or per user (:func:`user_rating_sums`); NaN
    when there are none."""
    if "error" not in records:
        n = float(np.sum(records["ratings"]))
        if not n:
            return {"rmse": float("nan"), "mae": float("nan")}
        return {"rmse": float(np.sqrt(np.sum(records["sq_error"]) / n)), "mae": float(np.sum(records["abs_error"]) / n)}
    err = np.asarray(records["error"], dtype=np.float64)
    if err.size == 0:
        return {"rmse": float("nan"), "mae": float("nan")}
    return {"rmse": float(np.sqrt(np.mean(err * err))), "mae": float(np.mean(np.abs(err)))}
