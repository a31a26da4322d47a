"""Train/val/test splits of interactions and the feedback they are turned into, every random choice seeded.

Splits (``dataset.split``):
- ``random``: each interaction goes to test with probability ``test_fraction``, to val with ``val_fraction``
  (an exact count, like ``implicit.evaluation.train_test_split``'s fractions).
- ``leave_last_out``: per user, the last interaction by timestamp is test and the one before is val; users with
  too few interactions keep all of theirs in train (ties in time are broken by a seeded shuffle).
- ``user_holdout``: per user, a seeded ``test_fraction`` (``val_fraction``) of that user's interactions, so every
  user with enough history is evaluated with the same share held out.

Feedback (``dataset.feedback``): ``explicit`` keeps ratings as targets; ``implicit`` keeps the interactions with
rating >= ``threshold`` (all of them when threshold is null) and sets each value to 1 (``implicit_value=binary``)
or to the rating (``implicit_value=rating``, a confidence strength for ALS).
"""

from __future__ import annotations

import numpy as np
import torch

from nnml.errors import NnmlError, bad_choice
from nnml.tasks.recsys.interactions import Interactions

SPLITS = ("random", "leave_last_out", "user_holdout")
FEEDBACK = ("implicit", "explicit")
IMPLICIT_VALUES = ("binary", "rating")


def to_feedback(data: Interactions, feedback: str, threshold: float | None, implicit_value: str = "binary",
                ) -> Interactions:
    if feedback not in FEEDBACK:
        raise bad_choice("dataset.feedback", feedback, FEEDBACK)
    if implicit_value not in IMPLICIT_VALUES:
        raise bad_choice("dataset.implicit_value", implicit_value, IMPLICIT_VALUES)
    if threshold is not None:
        keep = data.values >= float(threshold)
        if not bool(keep.any()):
            lo, hi = float(data.values.min()), float(data.values.max())
            raise NnmlError(f"dataset.threshold={threshold:g} leaves an empty training split: no rating is >= "
                            f"{threshold:g} (ratings range {lo:g}-{hi:g}); choose a threshold <= {hi:g} or null")
        data = data.take(torch.nonzero(keep).view(-1))
    if feedback == "implicit" and implicit_value == "binary":
        data = Interactions(data.users, data.items, torch.ones_like(data.values), data.timestamps,
                            data.num_users, data.num_items)
    return data


def split(data: Interactions, how: str, *, seed: int, val_fraction: float, test_fraction: float,
          ) -> tuple[Interactions, Interactions, Interactions]:
    """(train, val, test); val may be empty when ``val_fraction`` is 0."""
    for key, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise NnmlError(f"dataset.{key}={f} is not valid; choose a fraction in [0, 1)")
    if val_fraction + test_fraction >= 1.0:
        raise NnmlError(f"dataset.val_fraction + dataset.test_fraction = {val_fraction + test_fraction:g} leaves "
                        f"nothing to train on; keep their sum below 1")
    rng = np.random.default_rng(seed)
    n = len(data)
    if how == "random":
        perm = rng.permutation(n)
        n_test, n_val = int(round(test_fraction * n)), int(round(val_fraction * n))
        parts = perm[n_test + n_val:], perm[n_test:n_test + n_val], perm[:n_test]
    elif how == "leave_last_out":
        parts = _leave_last_out(data, rng, with_val=val_fraction > 0)
    elif how == "user_holdout":
        parts = _user_holdout(data, rng, val_fraction, test_fraction)
    else:
        raise bad_choice("dataset.split", how, SPLITS)
    return tuple(data.take(np.sort(p)) for p in parts)  # type: ignore[return-value]


def _by_user(data: Interactions, rng, key: np.ndarray | None = None):
    """Row indices grouped by user, each group ordered by ``key`` (ties and no key: a seeded shuffle)."""
    users = data.users.numpy()
    shuffle = rng.permutation(len(users))
    order = shuffle[np.lexsort(((key[shuffle],) if key is not None else ()) + (users[shuffle],))]
    starts = np.searchsorted(users[order], np.arange(data.num_users + 1))
    return order, starts


def _leave_last_out(data: Interactions, rng, with_val: bool):
    order, starts = _by_user(data, rng, data.timestamps.numpy())
    held = 2 if with_val else 1
    train, val, test = [], [], []
    for u in range(data.num_users):
        rows = order[starts[u]:starts[u + 1]]
        if len(rows) <= held:  # keep at least one interaction to learn the user from
            train.append(rows)
            continue
        test.append(rows[-1:])
        if with_val:
            val.append(rows[-2:-1])
        train.append(rows[:-held])
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64)  # noqa: E731
    return cat(train), cat(val), cat(test)


def _user_holdout(data: Interactions, rng, val_fraction: float, test_fraction: float):
    order, starts = _by_user(data, rng)
    train, val, test = [], [], []
    for u in range(data.num_users):
        rows = order[starts[u]:starts[u + 1]]
        n_test = int(round(test_fraction * len(rows)))
        n_val = int(round(val_fraction * len(rows)))
        if len(rows) - n_test - n_val < 1:
            train.append(rows)
            continue
        test.append(rows[:n_test])
        val.append(rows[n_test:n_test + n_val])
        train.append(rows[n_test + n_val:])
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64)  # noqa: E731
    return cat(train), cat(val), cat(test)
