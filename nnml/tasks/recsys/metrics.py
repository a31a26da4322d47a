"""Ranking metrics of top-k lists over the whole catalogue, with each user's training items excluded, and rating
errors for explicit feedback.

For each user u with held-out items T_u (users without held-out items are skipped) the model ranks every item
not in u's excluded set (training items, plus validation items when scoring test), and R_u is the top k.
With hits h_u = |R_u & T_u| and d_u = min(k, |T_u|):

- ``precision@k`` = sum_u h_u / sum_u d_u, ``implicit.evaluation``'s definition (a user with fewer than k
  held-out items can still reach 1);
- ``recall@k`` = mean_u h_u / |T_u|;  ``hit_rate@k`` = share of users with h_u > 0;
- ``map@k`` = mean_u (1/d_u) sum_{j<=k, item j relevant} (hits in the first j) / j;
- ``ndcg@k`` = mean_u DCG / IDCG with binary gains and 1/log2(rank+1) discounts, IDCG over d_u relevant items;
- ``coverage@k`` = share of the catalogue that appears in at least one user's top k.

``tests/hw6`` checks precision, MAP and NDCG against ``implicit.evaluation.ranking_metrics_at_k`` on the same
factors. Everything runs in batches of users on the model's device; one host transfer at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from nnml.tasks.recsys.interactions import Interactions, Rows

RANKING = ("precision", "recall", "map", "ndcg", "hit_rate", "coverage")


@torch.no_grad()
def top_k(score_fn: Callable[[torch.Tensor], torch.Tensor], users: torch.Tensor, k: int,
          exclude: Rows | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(items, scores) of the top ``k`` per user; excluded items score -inf (and rank last)."""
    s = score_fn(users).float()
    if exclude is not None:
        s = s.masked_fill(exclude.mask(users), float("-inf"))
    top = torch.topk(s, k, dim=1)
    return top.indices, top.values


def per_user_ranking(rel: torch.Tensor, n: torch.Tensor, k: int, disc: torch.Tensor,
                     idcg: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each user's ranking values at ``k``: ``rel`` (users, >= k) 1.0 where a shown item is held out, ``n`` each
    user's held-out count, ``disc``/``idcg`` the discounts. The order is the one ``ranking_metrics`` sums in."""
    r = rel[:, :k]
    hits = r.sum(1)
    d = torch.clamp(n, max=k)
    return {"hits": hits, "denom": d, "recall": hits / n,
            "map": (torch.cumsum(r, 1) / torch.arange(1, k + 1, device=r.device) * r).sum(1) / d,
            "ndcg": (r * disc[:k]).sum(1) / idcg[d.long() - 1], "hit_rate": (hits > 0).double()}


@torch.no_grad()
def ranking_metrics(score_fn: Callable[[torch.Tensor], torch.Tensor], test: Rows, exclude: Rows | None,
                    ks: Iterable[int] = (10,), batch_users: int = 1024) -> dict[str, float]:
    ks = sorted({int(k) for k in ks})
    kmax = ks[-1]
    device = test.indices.device
    lengths = test.lengths()
    users = torch.nonzero(lengths > 0).view(-1)
    disc = 1.0 / torch.log2(torch.arange(2, kmax + 2, device=device, dtype=torch.float64))
    idcg = torch.cumsum(disc, 0)
    sums = {k: torch.zeros(6, dtype=torch.float64, device=device) for k in ks}  # hits, denom, rec, ap, ndcg, hit
    seen = {k: torch.zeros(test.num_cols, dtype=torch.bool, device=device) for k in ks}
    for start in range(0, len(users), batch_users):
        u = users[start:start + batch_users]
        items, scores = top_k(score_fn, u, kmax, exclude)
        valid = torch.isfinite(scores)  # fewer than k candidates: the tail is excluded items, never a hit
        rel = (test.mask(u).gather(1, items) & valid).double()
        n = lengths[u].double()
        for k in ks:
            sums[k] += torch.stack([v.sum() for v in per_user_ranking(rel, n, k, disc, idcg).values()])
            seen[k][items[:, :k][valid[:, :k]]] = True
    out: dict[str, float] = {}
    n_users = max(len(users), 1)
    for k in ks:
        hits, d, rec, ap, ndcg, hit = sums[k].tolist()
        out.update({f"precision@{k}": hits / max(d, 1.0), f"recall@{k}": rec / n_users, f"map@{k}": ap / n_users,
                    f"ndcg@{k}": ndcg / n_users, f"hit_rate@{k}": hit / n_users,
                    f"coverage@{k}": float(seen[k].sum()) / max(test.num_cols, 1)})
    return out


@torch.no_grad()
def rating_errors(predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], split: Interactions,
                  clip: tuple[float, float] | None = None) -> dict[str, float]:
    """RMSE and MAE of predicted ratings on ``split`` (predictions clipped to the rating range when given)."""
    if len(split) == 0:
        return {"rmse": float("nan"), "mae": float("nan")}
    pred = predict(split.users, split.items).double()
    if clip is not None:
        pred = pred.clamp(*clip)
    err = pred - split.values.double()
    return {"rmse": float(err.pow(2).mean().sqrt()), "mae": float(err.abs().mean())}


def directions(ks: Iterable[int], explicit: bool) -> dict[str, str]:
    out = {f"{m}@{k}": "max" for k in ks for m in RANKING}
    if explicit:
        out.update(rmse="min", mae="min")
    return out
