"""``dataset=interactions_csv``: your own interactions, one row each in a CSV, TSV or Parquet file with the columns
``user,item[,rating][,timestamp]`` (names configurable), for ``task=recommendation``.

Ids may be any text: they are numbered 0..n-1 in sorted order (numerically when every id of the column is an
integer) and the raw ids are kept, so ``nnml recommend RUN --user ID`` takes the file's own ids. Without a rating
column every interaction counts 1 (implicit feedback); without a timestamp column the row order stands for time
(``split=leave_last_out`` then holds out each user's last rows). Timestamps are numbers (e.g. Unix seconds) or
ISO dates (``2024-05-01`` or ``2024-05-01T12:30:00``). The file is read once; a missing or malformed cell is one
line naming its line. The rest (feedback, threshold, splits) is :func:`nnml.tasks.recsys.datasets.from_table`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnml.data.table_files import Table, as_number, missing, read_table
from nnml.errors import NnmlError, did_you_mean
from nnml.tasks.recsys.datasets import InteractionData, from_table


def _optional(name, default: str, header: list[str], key: str):
    """``auto``: the column ``default`` when the file has it; null: none; a name: that column, which must exist."""
    if name is None:
        return None
    if str(name) == "auto":
        return default if default in header else None
    if str(name) not in header:
        raise NnmlError(f"{key}={name} is not a column of the file{did_you_mean(str(name), header)}; its columns: "
                        f"{', '.join(header[:30])} (null: no such column)")
    return str(name)


def _ids(t: Table, col: str) -> np.ndarray:
    cells = t.columns[col]
    for i, c in enumerate(cells):
        if missing(c):
            raise NnmlError(f"{t.place(i)}: the {col} column is empty; every interaction needs a user and an item")
    nums = [as_number(c) for c in cells]
    if all(v is not None and float(v).is_integer() for v in nums):
        return np.asarray(nums, dtype=np.int64)
    return np.asarray([str(c) for c in cells], dtype=object)


def _numbers(t: Table, col: str, what: str) -> np.ndarray:
    out = np.empty(len(t), dtype=np.float64)
    for i, c in enumerate(t.columns[col]):
        v = None if missing(c) else as_number(c)
        if v is None:
            raise NnmlError(f"{t.place(i)}: the {what} column '{col}' holds {c!r}, not a number; fix the cell or "
                            f"remove the row")
        out[i] = v
    return out


def _times(t: Table, col: str) -> np.ndarray:
    out = np.empty(len(t), dtype=np.int64)
    for i, c in enumerate(t.columns[col]):
        v = None if missing(c) else as_number(c)
        if v is None and not missing(c):
            try:
                v = np.datetime64(str(c), "s").astype(np.int64)
            except ValueError:
                v = None
        if v is None:
            raise NnmlError(f"{t.place(i)}: the timestamp column '{col}' holds {c!r}, neither a number nor an ISO "
                            f"date (2024-05-01 or 2024-05-01T12:30:00)")
        out[i] = int(v)
    return out


def interactions_csv(seed: int, path: str | None = None, user: str = "user", item: str = "item",
                     rating: str | None = "auto", timestamp: str | None = "auto", sep: str | None = None,
                     feedback: str = "implicit", threshold: float | None = None, implicit_value: str = "binary",
                     split: str = "random", val_fraction: float = 0.1, test_fraction: float = 0.2) -> InteractionData:
    """Interactions from a table file (module docstring)."""
    chosen: dict = {}

    def keep(header):
        for name, key in ((user, "dataset.user"), (item, "dataset.item")):
            if str(name) not in header:
                raise NnmlError(f"{key}={name} is not a column of {path}{did_you_mean(str(name), header)}; its "
                                f"columns: {', '.join(header[:30])}")
        chosen["rating"] = _optional(rating, "rating", header, "dataset.rating")
        chosen["timestamp"] = _optional(timestamp, "timestamp", header, "dataset.timestamp")
        return [str(user), str(item), *(c for c in (chosen["rating"], chosen["timestamp"]) if c)]

    t = read_table(path, "dataset.path", keep, sep)
    if feedback == "explicit" and chosen["rating"] is None:
        raise NnmlError(f"dataset.feedback=explicit needs ratings, but {path} has no rating column; name it with "
                        f"dataset.rating=COLUMN, or use dataset.feedback=implicit")
    users, items = _ids(t, str(user)), _ids(t, str(item))
    values = _numbers(t, chosen["rating"], "rating") if chosen["rating"] else np.ones(len(t))
    times = _times(t, chosen["timestamp"]) if chosen["timestamp"] else np.arange(len(t))
    return from_table(Path(str(path)).stem, users, items, values, times, seed=seed, feedback=feedback,
                      threshold=threshold, implicit_value=implicit_value, split=split, val_fraction=val_fraction,
                      test_fraction=test_fraction)
