"""``dataset=csv``: your own table (CSV, TSV or Parquet) with a target column, for classification or regression.

The file is read once (:mod:`nnml.data.table_files`), keeping only the feature and target columns. Every statistic
is fitted on the train split only, then applied to every split (and, by :func:`transform_rows`, to new rows):

- A feature column is **numeric** when its non-missing train cells are numbers. If only a few are not (at least
  90% are numbers), the column is still numeric and the first text cell, in any split, is an error naming its
  line and value: a stray typo should be fixed, not silently turn the column into categories. Below 90% the
  column is **categorical**; ``dataset.categorical=[col]`` makes a column of numbers categorical (codes, years).
- Numeric columns: missing cells get the train median; a 0/1 column ``<col>_missing`` is added when the column had
  missing cells in the train split (it is 0 everywhere else when not). The column is then standardized with the
  train mean and standard deviation (after the median is filled in).
- Categorical columns are one-hot encoded over the categories seen in the train split (sorted), one input
  ``<col>=<value>`` each, at most ``max_categories`` of them. A category never seen in training is all zeros.
  Missing cells are a category of their own, ``<col>=<missing>``, when the train split had some; otherwise (a
  missing cell only in val/test or new rows) they are all zeros like an unseen category.
- The target: text, or integers with at most 20 distinct values, mean classification (classes sorted, numbers
  numerically); anything else regression (``dataset.kind`` overrides). Regression targets are standardized with
  the train mean and std, as every built-in regression set is. A missing target cell is an error.
- Splits are stratified for classification and drawn as ``split_and_standardize`` draws them, so the wine table
  saved as a CSV splits into the same rows as ``dataset=wine``. ``dataset.test_path`` gives the test rows in a
  file of their own; only val is then split off the main file.

``meta["tabular"]`` holds everything fitted, as plain lists and dicts; ``meta["feature_names"]`` names each input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from nnml.data.base import DataSplits, split_indices
from nnml.data.table_files import Table, as_number, check_file, missing, read_table
from nnml.errors import NnmlError, bad_choice, did_you_mean

KINDS = ("auto", "classification", "regression")
MAX_CLASSES_AUTO = 20   # integer targets with at most this many values are classes under kind=auto
NUMERIC_SHARE = 0.9     # a column with at least this share of numbers in train is numeric (the rest are errors)
MISSING_CATEGORY = "<missing>"


# ---------------------------------------------------------------------------------------------- columns

def _columns(header: list[str], path, target: str, features, drop, categorical) -> list[str]:
    """The feature columns, checked against the header (close matches for typos)."""
    def check(name, key):
        if name not in header:
            shown = ", ".join(header[:30]) + (", ..." if len(header) > 30 else "")
            raise NnmlError(f"{key}={name} is not a column of {path}{did_you_mean(name, header)}; its columns: "
                            f"{shown}")

    check(target, "dataset.target")
    for c in features or []:
        check(c, "dataset.features")
    for c in drop or []:
        check(c, "dataset.drop")
    if features and target in features:
        raise NnmlError(f"dataset.features names the target column '{target}'; leave it out of the features")
    cols = [c for c in (features or header) if c != target and c not in set(drop or [])]
    if not cols:
        raise NnmlError(f"{path}: no feature column is left (dataset.features/dataset.drop leave only "
                        f"'{target}'); keep at least one column besides the target")
    for c in categorical or []:
        if c not in cols:
            raise NnmlError(f"dataset.categorical={c} is not a feature column{did_you_mean(c, cols)}; feature "
                            f"columns: {', '.join(cols[:30])}")
    return cols


def _number_or_none(cells: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values with NaN where not a number, is-missing mask, is-a-number mask) of a list of cells."""
    miss = np.fromiter((missing(c) for c in cells), dtype=bool, count=len(cells))
    nums = [None if m else as_number(c) for c, m in zip(cells, miss)]
    ok = np.fromiter((v is not None for v in nums), dtype=bool, count=len(cells))
    vals = np.fromiter((np.nan if v is None else v for v in nums), dtype=np.float64, count=len(cells))
    return vals, miss, ok


def _text(cell) -> str:
    """A cell as category text: numbers written as the file would (3.0 -> "3")."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


# ---------------------------------------------------------------------------------------------- fitting

def fit_columns(columns: Mapping[str, list], train: np.ndarray, categorical=(), max_categories: int = 50,
                path="") -> list[dict]:
    """The per-column encoding fitted on the rows ``train`` (see the module docstring), as plain dicts."""
    specs = []
    for name, cells in columns.items():
        vals, miss, ok = _number_or_none(cells)
        present = ~miss[train]
        if not present.any():
            raise NnmlError(f"{path}: column '{name}' has no values in the train split (all {int(train.size)} "
                            f"cells are missing); drop it with dataset.drop=[{name}]")
        share = float(ok[train].sum()) / float(present.sum())
        if name not in set(categorical) and share >= NUMERIC_SHARE:
            x = vals[train]
            has_missing = bool(miss[train].any())
            median = float(np.median(x[~np.isnan(x)]))
            filled = np.where(np.isnan(x), median, x)  # text cells, if any, fail in encode_columns
            mean, std = float(filled.mean()), float(filled.std())
            specs.append({"name": name, "type": "numeric", "median": median, "mean": mean,
                          "std": std if std > 1e-12 else 1.0, "missing_flag": has_missing,
                          "numeric_share": share})
            continue
        seen = sorted({_text(cells[i]) for i in train if not miss[i]})
        if len(seen) > int(max_categories):
            raise NnmlError(f"{path}: column '{name}' has {len(seen)} distinct text values in the train split, "
                            f"more than dataset.max_categories={max_categories}; drop it (dataset.drop=[{name}]) or "
                            f"raise dataset.max_categories")
        specs.append({"name": name, "type": "categorical", "categories": seen,
                      "missing_category": bool(miss[train].any())})
    return specs


def feature_names(specs: list[dict]) -> list[str]:
    out = []
    for s in specs:
        if s["type"] == "numeric":
            out += [s["name"]] + ([f"{s['name']}_missing"] if s["missing_flag"] else [])
        else:
            out += [f"{s['name']}={v}" for v in s["categories"]]
            out += [f"{s['name']}={MISSING_CATEGORY}"] if s["missing_category"] else []
    return out


def encode_columns(columns: Mapping[str, list], specs: list[dict], place=None) -> np.ndarray:
    """The model's inputs (float32, one row per cell) of columns of raw cells, with fitted ``specs``.
    ``place(i)`` names row i in messages (``FILE line N``)."""
    place = place or (lambda i: f"row {i + 1}")
    n = len(next(iter(columns.values()))) if columns else 0
    parts = []
    for s in specs:
        name = s["name"]
        cells = columns[name]
        if s["type"] == "numeric":
            vals, miss, ok = _number_or_none(cells)
            bad = ~miss & ~ok
            if bad.any():
                i = int(np.argmax(bad))
                share = s["numeric_share"]
                how = "all its train cells are" if share >= 1 else f"{share:.1%} of its train cells are"
                raise NnmlError(f"{place(i)}: column '{name}' holds {cells[i]!r}, which is not a number; the column "
                                f"is numeric ({how} numbers): fix the cell, leave it empty (a missing value) or add "
                                f"the column to dataset.categorical")
            filled = np.where(miss, s["median"], vals)
            parts.append(((filled - s["mean"]) / s["std"])[:, None])
            if s["missing_flag"]:
                parts.append(miss.astype(np.float64)[:, None])
        else:
            cats = list(s["categories"]) + ([MISSING_CATEGORY] if s["missing_category"] else [])
            index = {c: j for j, c in enumerate(cats)}
            block = np.zeros((n, len(cats)))
            for i, c in enumerate(cells):
                j = index.get(MISSING_CATEGORY if missing(c) else _text(c))
                if j is not None:  # unseen categories (and missing cells when train had none) stay all zero
                    block[i, j] = 1.0
            parts.append(block)
    return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((n, 0), np.float32)


# ---------------------------------------------------------------------------------------------- target

def _target_kind(cells: list, kind: str) -> str:
    if kind not in KINDS:
        raise bad_choice("dataset.kind", kind, KINDS)
    if kind != "auto":
        return kind
    nums = [as_number(c) for c in cells]
    if any(v is None for v in nums):
        return "classification"
    if all(float(v).is_integer() for v in nums) and len(set(nums)) <= MAX_CLASSES_AUTO:
        return "classification"
    return "regression"


def class_keys(cells: list):
    """(key of each cell, sorted class names): numbers sort numerically when every label is a number."""
    nums = [as_number(c) for c in cells]
    if all(v is not None for v in nums):
        keys = [_text(float(v)) for v in nums]
        names = [_text(v) for v in sorted(set(float(v) for v in nums))]
        return keys, names
    keys = [_text(c) for c in cells]
    return keys, sorted(set(keys))


def _check_target(table: Table, target: str) -> list:
    cells = table.columns[target]
    for i, c in enumerate(cells):
        if missing(c):
            raise NnmlError(f"{table.place(i)}: the target column '{target}' is empty; fill it or remove the row")
    return cells


# ---------------------------------------------------------------------------------------------- the builder

def table(seed: int, path: str | None = None, target: str | None = None, kind: str = "auto", features=None,
          drop=None, categorical=None, test_path: str | None = None, sep: str | None = None,
          max_categories: int = 50, val_fraction: float = 0.15, test_fraction: float = 0.25) -> DataSplits:
    """A table file with a target column -> standardized, encoded train/val/test tensors (module docstring)."""
    check_file(path, "dataset.path")
    if not target:
        raise NnmlError("dataset.target is not set; give dataset.target=COLUMN (the column to predict)")
    target = str(target)
    features = [str(c) for c in features] if features else None
    drop = [str(c) for c in drop] if drop else []
    categorical = [str(c) for c in categorical] if categorical else []
    cols: list[str] = []

    def keep(header):
        cols[:] = _columns(header, path, target, features, drop, categorical)
        return [*cols, target]

    main = read_table(path, "dataset.path", keep, sep)
    test_table = None
    if test_path:
        def keep_test(header):
            lacking = [c for c in [*cols, target] if c not in header]
            if lacking:
                raise NnmlError(f"dataset.test_path={test_path} has no column '{lacking[0]}'"
                                f"{did_you_mean(lacking[0], header)}; it needs the columns of {path}")
            return [*cols, target]

        test_table = read_table(test_path, "dataset.test_path", keep_test, sep)
    y_cells = _check_target(main, target)
    kind = _target_kind(y_cells, kind)
    n_main = len(main)
    parts = [main] + ([test_table] if test_table is not None else [])
    all_y = y_cells + (_check_target(test_table, target) if test_table is not None else [])

    if kind == "classification":
        keys, classes = class_keys(y_cells)
        lookup = {c: i for i, c in enumerate(classes)}
        y_main = np.asarray([lookup[k] for k in keys], dtype=np.int64)
    else:
        classes = []
        y_main = None
    train, val, test = split_indices(n_main, y_main, seed, float(val_fraction),
                                  None if test_table is not None else float(test_fraction), path,
                                     names=classes)
    if test_table is not None:
        test = np.arange(n_main, n_main + len(test_table))

    # One place per row over both files, and the cells of both files side by side.
    def place(i: int) -> str:
        return main.place(i) if i < n_main else test_table.place(i - n_main)

    columns = {c: [cell for t in parts for cell in t.columns[c]] for c in cols}
    if kind == "classification":
        if test_table is not None:
            keys = keys + _test_keys(test_table, target, classes, path)
        y = np.asarray([lookup[k] for k in keys], dtype=np.int64)
        in_train = set(y[train].tolist())
        for split_name, rows in (("val", val), ("test", test)):
            for i in rows:
                if int(y[i]) not in in_train:
                    raise NnmlError(f"{place(int(i))}: label '{classes[y[i]]}' of column '{target}' is in the "
                                    f"{split_name} split but never in the train split; add training rows of it or "
                                    f"remove it")
        yt = torch.as_tensor(y)
        target_meta = {"name": target, "kind": kind, "classes": classes}
        num_outputs = len(classes)
    else:
        y = _regression_targets(all_y, place, target)
        mean, std = float(y[train].mean()), float(y[train].std())
        std = std if std > 1e-12 else 1.0
        yt = torch.from_numpy(((y - mean) / std).astype(np.float32)[:, None])
        target_meta = {"name": target, "kind": kind, "mean": mean, "std": std}
        num_outputs = 1

    specs = fit_columns(columns, train, categorical, max_categories, path)
    x = torch.from_numpy(encode_columns(columns, specs, place))
    names = feature_names(specs)

    def take(ix):
        ix = torch.as_tensor(ix, dtype=torch.long)
        return x[ix].contiguous(), yt[ix].contiguous()

    (xtr, ytr), (xva, yva), (xte, yte) = take(train), take(val), take(test)
    meta = {"feature_names": names,
            "tabular": {"columns": specs, "target": target_meta, "missing_category": MISSING_CATEGORY}}
    return DataSplits(Path(str(path)).stem, kind, xtr, ytr, xva, yva, xte, yte, (len(names),), num_outputs,
                      list(classes), meta)


def label_keys(cells: list, classes: list[str]) -> list[str]:
    """Keys of label cells in the convention of the ``classes`` that :func:`class_keys` gave (3.0 is "3" when
    the classes are numbers)."""
    numeric = all(as_number(c) is not None for c in classes)
    out = []
    for c in cells:
        v = as_number(c) if numeric else None
        out.append(_text(float(v)) if v is not None else _text(c))
    return out


def _test_keys(test_table: Table, target: str, classes: list[str], path) -> list[str]:
    """Class keys of the test file's labels; a label the main file never has is an error naming its line."""
    keys = label_keys(test_table.columns[target], classes)
    known = set(classes)
    for i, k in enumerate(keys):
        if k not in known:
            raise NnmlError(f"{test_table.place(i)}: label '{k}' of column '{target}' never occurs in {path}, so the "
                            f"model cannot learn it; its classes: {', '.join(classes[:30])}")
    return keys


def _regression_targets(cells: list, place, target: str) -> np.ndarray:
    out = np.empty(len(cells), dtype=np.float64)
    for i, c in enumerate(cells):
        v = as_number(c)
        if v is None:
            raise NnmlError(f"{place(i)}: the target column '{target}' holds {c!r}, which is not a number; a "
                            f"regression target must be numeric (dataset.kind=classification for labels)")
        out[i] = v
    return out


# ---------------------------------------------------------------------------------------------- new rows

def transform_rows(records: Iterable[Mapping], meta: dict, place=None) -> torch.Tensor:
    """The model's input tensor (N, features) for new rows (mappings of column -> cell, as ``csv.DictReader`` or
    :func:`read_records` gives them; the target column may be absent), with the train split's statistics from
    ``meta["tabular"]``. A column the rows lack is an error; extra columns are ignored."""
    specs = meta["tabular"]["columns"]
    records = list(records)
    if not records:
        raise NnmlError("no rows to predict: give at least one row")
    columns: dict[str, list] = {s["name"]: [] for s in specs}
    for i, rec in enumerate(records):
        for s in specs:
            name = s["name"]
            if name not in rec:
                where = place(i) if place else f"row {i + 1}"
                raise NnmlError(f"{where}: no column '{name}'{did_you_mean(name, list(rec))}; the model reads the "
                                f"columns {', '.join(x['name'] for x in specs)}")
            cell = rec[name]
            columns[name].append(None if missing(cell.strip() if isinstance(cell, str) else cell)
                                 else (cell.strip() if isinstance(cell, str) else cell))
    return torch.from_numpy(encode_columns(columns, specs, place))


def read_records(path, sep: str | None = None) -> tuple[list[dict], object]:
    """(rows as dicts, ``place(i)`` naming row i) of a table file, for :func:`transform_rows`."""
    t = read_table(path, "--file", None, sep)
    n = len(t)
    return [{c: t.columns[c][i] for c in t.header} for i in range(n)], t.place


def target_values(outputs: torch.Tensor, meta: dict) -> list:
    """Model outputs -> what the target column holds: a class name per row (the argmax), or the regression value
    on the target's own scale (the model learned it standardized)."""
    tm = meta["tabular"]["target"]
    if tm["kind"] == "classification":
        return [tm["classes"][int(i)] for i in outputs.argmax(-1).tolist()]
    return (outputs.reshape(len(outputs), -1)[:, 0].double() * tm["std"] + tm["mean"]).tolist()
