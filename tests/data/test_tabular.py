"""dataset=csv: a table file read once, encoded with train-split statistics only. Oracles: scikit-learn's bundled
wine as a CSV is dataset=wine (same rows in each split, same standardized numbers); the encoding of a damaged
table equals scikit-learn's SimpleImputer/MissingIndicator/StandardScaler/OneHotEncoder fitted on the same train
rows; transform_rows on the test rows gives the test tensor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nnml.data.tabular import read_records, table, target_values, transform_rows
from nnml.errors import NnmlError
from tests.data.files import WINE_TARGET, diabetes_csv, invoke, runs, wine_csv, wine_rows, write_csv


def test_wine_as_a_csv_is_dataset_wine(tmp_path):
    from nnml.data.sklearn_sets import wine

    got = table(42, path=str(wine_csv(tmp_path)), target=WINE_TARGET)
    ref = wine(42)
    assert got.task == "classification" and got.class_names == ref.class_names == ["class_0", "class_1", "class_2"]
    assert got.meta["feature_names"][:2] == ["alcohol", "malic_acid"] and got.input_shape == (13,)
    for split in ("train", "val", "test"):
        (xa, ya), (xb, yb) = got.split(split), ref.split(split)
        assert torch.equal(ya, yb), split  # the same rows in the same order
        # float64 statistics here, float32 in split_and_standardize: equal to float32 rounding
        torch.testing.assert_close(xa, xb, rtol=0, atol=1e-5)


def _sklearn_encoding(header, rows, train_idx):
    """The expected inputs by feature name: scikit-learn's transformers fitted on the train rows."""
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cells = np.array([r[:-1] for r in rows], dtype=object)
    out = {}
    for j, name in enumerate(header[:-1]):
        col = cells[:, j]
        if name == "alcohol_level":
            miss_train = (col[train_idx] == "").any()
            filled = np.where(col == "", "<missing>" if miss_train else "", col).astype(str)[:, None]
            enc = OneHotEncoder(handle_unknown="ignore").fit(filled[train_idx][filled[train_idx][:, 0] != ""])
            onehot = enc.transform(filled).toarray()
            for k, cat in enumerate(enc.categories_[0]):
                out[f"{name}={cat}"] = onehot[:, k]
            continue
        x = np.array([np.nan if c == "" else float(c) for c in col])[:, None]
        imp = SimpleImputer(strategy="median").fit(x[train_idx])
        filled = imp.transform(x)
        out[name] = StandardScaler().fit(filled[train_idx]).transform(filled)[:, 0]
        ind = MissingIndicator(features="missing-only").fit(x[train_idx])
        if ind.features_.size:
            out[f"{name}_missing"] = ind.transform(x)[:, 0].astype(float)
    return out


def _wine_split(y, seed=42, val_fraction=0.15, test_fraction=0.25):
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=round(test_fraction * len(y)), random_state=seed, stratify=y)
    train, val = train_test_split(rest, test_size=round(val_fraction * len(y)), random_state=seed, stratify=y[rest])
    return np.sort(train), np.sort(val), np.sort(test)


def test_missing_cells_and_a_text_column_are_encoded_as_scikit_learn_does(tmp_path):
    header, rows, y = wine_rows(missing_share=0.03, level_column=True)
    path = write_csv(tmp_path / "wine.csv", header, rows)
    data = table(42, path=str(path), target=WINE_TARGET)
    train, val, test = _wine_split(y)
    expected = _sklearn_encoding(header, rows, train)
    names = data.meta["feature_names"]
    assert sorted(names) == sorted(expected)
    assert "alcohol_level=<missing>" in names and any(n.endswith("_missing") for n in names)
    x = {"train": data.x_train, "val": data.x_val, "test": data.x_test}
    for split, ix in (("train", train), ("val", val), ("test", test)):
        for j, name in enumerate(names):
            np.testing.assert_allclose(x[split][:, j].numpy(), expected[name][ix], atol=1e-5, err_msg=name)
    specs = {s["name"]: s for s in data.meta["tabular"]["columns"]}
    assert specs["alcohol_level"]["categories"] == ["high", "low", "mid"]  # sorted, seen in train
    json.dumps(data.meta)  # plain data only: it can be written next to the run


def test_transform_rows_repeats_the_encoding_on_new_rows(tmp_path):
    header, rows, y = wine_rows(missing_share=0.03, level_column=True)
    path = write_csv(tmp_path / "wine.csv", header, rows)
    data = table(42, path=str(path), target=WINE_TARGET)
    records, place = read_records(path)
    _, _, test = _wine_split(y)
    new = [{k: v for k, v in records[i].items() if k != WINE_TARGET} for i in test]  # the target is absent
    torch.testing.assert_close(transform_rows(new, data.meta), data.x_test, rtol=0, atol=0)

    spec = {s["name"]: s for s in data.meta["tabular"]["columns"]}
    names = data.meta["feature_names"]
    row = dict(new[0], alcohol_level="very high", ash="")  # an unseen category, a missing number
    x = transform_rows([row], data.meta)[0]
    assert all(x[names.index(f"alcohol_level={c}")] == 0 for c in ("high", "low", "mid", "<missing>"))
    assert x[names.index("ash")] == pytest.approx((spec["ash"]["median"] - spec["ash"]["mean"]) / spec["ash"]["std"])
    if "ash_missing" in names:
        assert x[names.index("ash_missing")] == 1.0
    with pytest.raises(NnmlError, match="row 1: no column 'hue'"):
        transform_rows([{k: v for k, v in new[0].items() if k != "hue"}], data.meta)
    with pytest.raises(NnmlError, match="row 2: column 'ash' holds 'abc', which is not a number"):
        transform_rows([new[0], dict(new[0], ash="abc")], data.meta)
    assert target_values(torch.eye(3), data.meta) == ["class_0", "class_1", "class_2"]


def test_the_target_decides_the_kind(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)

    def build(ys, **kw):
        path = write_csv(tmp_path / "t.csv", ["x", "y"], [[repr(float(a)), b] for a, b in zip(x, ys)])
        return table(0, path=str(path), target="y", val_fraction=0.2, test_fraction=0.2, **kw)

    d = build([str(v) for v in rng.choice([2, 10, 1], 40)])
    assert d.task == "classification" and d.class_names == ["1", "2", "10"]  # integers sort as numbers
    assert build([["yes", "no"][i % 2] for i in range(40)]).class_names == ["no", "yes"]
    d = build([repr(float(v)) for v in rng.normal(size=40)])
    assert d.task == "regression" and d.num_outputs == 1 and d.y_train.shape[1] == 1
    with pytest.raises(NnmlError, match="class.es. have fewer than 3 rows: 1, 3"):
        build(["1", "3"] + ["2"] * 38, kind="classification")
    x = rng.normal(size=110)
    many = [str(i % 22) for i in range(110)]  # integers, but more than 20 values: regression
    assert build(many).task == "regression"
    assert build(many, kind="classification").num_outputs == 22
    with pytest.raises(NnmlError, match="regression target must be numeric"):
        build([["yes", "no"][i % 2] for i in range(40)], kind="regression")


def test_regression_targets_are_standardized_and_mapped_back(tmp_path):
    from nnml.data.sklearn_sets import diabetes

    data = table(42, path=str(diabetes_csv(tmp_path)), target="progression")
    ref = diabetes(42)  # standardizes the target with the train rows' mean and std too
    assert data.task == "regression" and data.num_outputs == 1
    for split in ("train", "val", "test"):
        torch.testing.assert_close(data.split(split)[1], ref.split(split)[1], rtol=0, atol=1e-5)
        torch.testing.assert_close(data.split(split)[0], ref.split(split)[0], rtol=0, atol=1e-5)
    from sklearn.datasets import load_diabetes

    back = np.round(target_values(data.y_test, data.meta), 3)  # on the file's own scale again
    assert set(back) <= set(load_diabetes().target.astype(float)) and len(back) == 110


def test_features_drop_categorical_and_formats(tmp_path):
    header, rows, _ = wine_rows()
    csv_path = write_csv(tmp_path / "w.csv", header, rows)
    d = table(0, path=str(csv_path), target=WINE_TARGET, features=["alcohol", "hue", "proline"])
    assert d.meta["feature_names"] == ["alcohol", "hue", "proline"]
    d = table(0, path=str(csv_path), target=WINE_TARGET, drop=["proline"])
    assert "proline" not in d.meta["feature_names"] and len(d.meta["feature_names"]) == 12
    # a column of numbers made categorical: one input per distinct train value
    d = table(0, path=str(csv_path), target=WINE_TARGET, features=["magnesium"], categorical=["magnesium"],
              max_categories=100)
    assert all(n.startswith("magnesium=") for n in d.meta["feature_names"]) and d.x_train.sum(1).eq(1).all()
    # the same table as TSV and Parquet gives the same tensors
    ref = table(0, path=str(csv_path), target=WINE_TARGET)
    tsv = write_csv(tmp_path / "w.tsv", header, rows, sep="\t")
    import pandas as pd

    frame = pd.read_csv(csv_path)
    frame.to_parquet(tmp_path / "w.parquet")
    import gzip

    (tmp_path / "w.csv.gz").write_bytes(gzip.compress(csv_path.read_bytes()))
    for p in (tsv, tmp_path / "w.parquet", tmp_path / "w.csv.gz"):
        other = table(0, path=str(p), target=WINE_TARGET)
        torch.testing.assert_close(other.x_train, ref.x_train, rtol=0, atol=1e-6)
        assert torch.equal(other.y_test, ref.y_test)


def test_a_test_file_is_the_test_split(tmp_path):
    header, rows, y = wine_rows()
    main = write_csv(tmp_path / "train.csv", header, rows[:150])
    test = write_csv(tmp_path / "test.csv", header, rows[150:])
    d = table(0, path=str(main), target=WINE_TARGET, test_path=str(test), val_fraction=0.2)
    assert d.sizes() == {"train": 120, "val": 30, "test": 28}
    assert d.y_test.tolist() == [int(v) for v in y[150:]]
    # statistics from the train rows of the main file only
    spec = d.meta["tabular"]["columns"][0]
    assert d.x_test[:, 0].mean().item() != pytest.approx(0, abs=1e-6) and spec["name"] == "alcohol"


# ---------------------------------------------------------------------------------------------- the CLI

TINY = ["trainer.device=cpu", "trainer.num_threads=1", "logger=none"]


def _train_metrics(tmp_path, *overrides) -> dict:
    code, out, err, crash = invoke(["train", *TINY, *overrides], tmp_path)
    assert code == 0 and crash is None, (err[-3000:], crash)
    return json.loads((runs(tmp_path)[-1] / "metrics.json").read_text())


@pytest.mark.slow
def test_wine_and_diabetes_csvs_reach_the_built_in_numbers(tmp_path):
    """Measured over seeds 0-19 (docs/homework1.md): dataset=wine 0.981 +- 0.005 test accuracy, the damaged CSV
    0.963 +- 0.006 (paired difference -0.018 +- 0.007: 3% of the cells are gone); at the default seed 42 they
    are 1.000 and 0.977. The bound allows two of the 44 test wines."""
    wine_csv(tmp_path, missing_share=0.03, level_column=True)
    diabetes_csv(tmp_path)
    builtin = _train_metrics(tmp_path, "dataset=wine")
    own = _train_metrics(tmp_path, "dataset=csv", "dataset.path=wine.csv", f"dataset.target={WINE_TARGET}")
    assert own["test/acc"] >= builtin["test/acc"] - 0.05, (own["test/acc"], builtin["test/acc"])
    reg = _train_metrics(tmp_path, "dataset=csv", "dataset.path=diabetes.csv", "dataset.target=progression")
    assert reg["test/r2"] >= 0.35, reg["test/r2"]
