"""Interaction datasets for ``task=recommendation``: the :class:`InteractionData` every recommender dataset
builder returns, the shared table -> feedback -> split step, and ``dataset=synthetic_interactions``.

Synthetic data (the default, and what the fast tests use): users and items get latent vectors of dimension
``rank``; user u interacts with ``interactions_per_user`` (on average) items drawn without replacement with
probability proportional to exp(signal * x_u.y_i + popularity * y_i.w) for a direction w shared by all users:
a log-normal popularity skew that keeps the data exactly of rank ``rank``, so a factor sweep should find its
best precision near ``rank`` factors.
Timestamps are the order of the draws shuffled per user; explicit ratings (1-5) grow with x_u.y_i plus noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from nnml.data.base import DataSplits
from nnml.errors import NnmlError
from nnml.tasks.recsys.interactions import Interactions
from nnml.tasks.recsys.splits import split as split_interactions
from nnml.tasks.recsys.splits import to_feedback


@dataclass
class InteractionData(DataSplits):
    """DataSplits whose x_* are (user, item) index pairs and y_* the values, plus the interactions themselves
    and what the recommend command shows (raw ids, titles, genres)."""

    train: Interactions | None = None
    val: Interactions | None = None
    test: Interactions | None = None
    feedback: str = "implicit"
    rating_range: tuple[float, float] | None = None
    user_ids: list = field(default_factory=list)   # raw id of each user index
    item_ids: list = field(default_factory=list)   # raw id of each item index
    item_titles: list = field(default_factory=list)
    item_genres: list = field(default_factory=list)
    acknowledgement: str = ""

    def interactions(self, split: str) -> Interactions:
        if split not in ("train", "val", "test"):
            raise NnmlError(f"split={split} is not valid; choose one of: test, train, val")
        return getattr(self, split)

    def user_index(self, raw) -> int:
        """Index of the raw user id ``raw`` (as typed on the command line)."""
        lookup = {str(u): i for i, u in enumerate(self.user_ids)}
        if str(raw) not in lookup:
            lo, hi = self.user_ids[0], self.user_ids[-1]
            raise NnmlError(f"--user {raw} is not a user of dataset={self.name}; {len(self.user_ids)} users, "
                            f"ids {lo}..{hi}")
        return lookup[str(raw)]

    def item_index(self, raw) -> int:
        lookup = {str(u): i for i, u in enumerate(self.item_ids)}
        if str(raw) not in lookup:
            raise NnmlError(f"--item {raw} is not an item of dataset={self.name}; {len(self.item_ids)} items, "
                            f"ids {self.item_ids[0]}..{self.item_ids[-1]}")
        return lookup[str(raw)]


def from_table(name: str, users, items, ratings, timestamps, *, seed: int, feedback: str, threshold,
               implicit_value: str, split: str, val_fraction: float, test_fraction: float,
               titles: dict | None = None, genres: dict | None = None, acknowledgement: str = "",
               ) -> InteractionData:
    """Raw columns -> contiguous ids -> feedback -> split. Users and items are numbered in sorted raw-id order
    over the interactions kept after the threshold, so the catalogue is what can be learned from."""
    users, items = np.asarray(users), np.asarray(items)
    values = torch.as_tensor(np.asarray(ratings, dtype=np.float32))
    n = len(users)
    # The threshold filters rows: carry each row's number in the user column to know which rows it kept.
    by_row = Interactions(torch.arange(n), torch.zeros(n, dtype=torch.long), values,
                          torch.as_tensor(np.asarray(timestamps, dtype=np.int64)), n, 1)
    kept = to_feedback(by_row, feedback, threshold, implicit_value)
    rows = kept.users.numpy()  # the row numbers kept by the threshold (users carried the row index)
    user_ids, u_idx = np.unique(users[rows], return_inverse=True)
    item_ids, i_idx = np.unique(items[rows], return_inverse=True)
    table = Interactions.from_arrays(u_idx, i_idx, kept.values.numpy(), kept.timestamps.numpy(),
                                     num_users=len(user_ids), num_items=len(item_ids))
    train, val, test = split_interactions(table, split, seed=seed, val_fraction=val_fraction,
                                          test_fraction=test_fraction)
    if len(train) == 0:
        raise NnmlError(f"dataset.threshold={threshold} leaves an empty training split; lower it or set it to null")
    titles = titles or {}
    genres = genres or {}
    rating_range = (float(values.min()), float(values.max())) if feedback == "explicit" else None

    def pairs(s: Interactions):
        return torch.stack([s.users, s.items], 1), s.values

    (xtr, ytr), (xva, yva), (xte, yte) = pairs(train), pairs(val), pairs(test)
    return InteractionData(
        name=name, task="interactions", x_train=xtr, y_train=ytr, x_val=xva, y_val=yva, x_test=xte, y_test=yte,
        input_shape=(2,), num_outputs=1, meta={"num_users": len(user_ids), "num_items": len(item_ids)},
        train=train, val=val, test=test, feedback=feedback, rating_range=rating_range,
        user_ids=[_plain(u) for u in user_ids], item_ids=[_plain(i) for i in item_ids],
        item_titles=[titles.get(_plain(i), str(_plain(i))) for i in item_ids],
        item_genres=[genres.get(_plain(i), "") for i in item_ids], acknowledgement=acknowledgement,
    )


def _plain(x):
    return x.item() if hasattr(x, "item") else x


def synthetic_interactions(seed: int, num_users: int = 400, num_items: int = 300, rank: int = 8,
                           interactions_per_user: int = 30, signal: float = 2.5, popularity: float = 2.0,
                           feedback: str = "implicit", threshold: float | None = None,
                           implicit_value: str = "binary", split: str = "random", val_fraction: float = 0.1,
                           test_fraction: float = 0.2) -> InteractionData:
    """Seeded low-rank implicit feedback with popularity skew (see the module docstring)."""
    if interactions_per_user >= num_items:
        raise NnmlError(f"dataset.interactions_per_user={interactions_per_user} must be below "
                        f"dataset.num_items={num_items}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((num_users, rank)) / np.sqrt(rank)
    Y = rng.standard_normal((num_items, rank))
    # Popularity lives inside the rank: a direction w shared by all users gives item i the bias popularity * y_i.w,
    # and exp() of it is a heavy-tailed (log-normal) popularity, so the data stays exactly of rank ``rank``.
    w = rng.standard_normal(rank)
    w /= np.linalg.norm(w)
    affinity = X @ Y.T
    logits = signal * affinity + popularity * (Y @ w)[None, :]
    # Sampling without replacement proportional to exp(logits): the top n of logits + Gumbel noise.
    gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, logits.shape)))
    n_u = np.clip(rng.poisson(interactions_per_user, num_users), 2, num_items - 1)
    order = np.argsort(-(logits + gumbel), axis=1)
    users = np.repeat(np.arange(num_users), n_u)
    items = np.concatenate([order[u, :n] for u, n in enumerate(n_u)])
    times = np.concatenate([rng.permutation(n) for n in n_u])
    z = affinity[users, items]
    z = (z - z.mean()) / (z.std() + 1e-12) + 0.5 * rng.standard_normal(len(z))
    ratings = np.clip(np.round(3.0 + 1.2 * z), 1, 5)
    return from_table("synthetic_interactions", users, items, ratings, times, seed=seed, feedback=feedback,
                      threshold=threshold, implicit_value=implicit_value, split=split, val_fraction=val_fraction,
                      test_fraction=test_fraction)
