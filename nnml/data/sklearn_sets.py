"""scikit-learn's bundled datasets (no download): digits, iris, wine, breast_cancer, diabetes."""

from __future__ import annotations

from nnml.data.base import DataSplits, split_and_standardize


def _load(loader_name: str):
    import sklearn.datasets as skd

    return getattr(skd, loader_name)()


def digits(seed: int, val_fraction: float = 0.1, test_fraction: float = 0.2, standardize: str = "feature") -> DataSplits:
    """1797 8x8 grey images of handwritten digits, 10 classes; kept as (1, 8, 8) images so a CNN can use them."""
    b = _load("load_digits")
    data = split_and_standardize(
        "digits", b.data, b.target, "classification", seed=seed, val_fraction=val_fraction,
        test_fraction=test_fraction, input_shape=(1, 8, 8), class_names=[str(c) for c in b.target_names],
        standardize=standardize, feature_names=list(b.feature_names),
    )
    # Each pixel counts the ink in a 4x4 block of a 32x32 bitmap: 0-16, light ink on a dark ground.
    data.meta["raw_image"] = {"size": [8, 8], "max_value": 16.0}
    return data


def _tabular(name: str, loader: str, task, seed, val_fraction, test_fraction, standardize) -> DataSplits:
    b = _load(loader)
    names = [str(c) for c in b.target_names] if task == "classification" else None
    return split_and_standardize(
        name, b.data, b.target, task, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
        class_names=names, standardize=standardize, feature_names=list(b.feature_names),
    )


def iris(seed: int, val_fraction: float = 0.15, test_fraction: float = 0.25, standardize: str = "feature") -> DataSplits:
    """150 iris flowers, 4 measurements, 3 species."""
    return _tabular("iris", "load_iris", "classification", seed, val_fraction, test_fraction, standardize)


def wine(seed: int, val_fraction: float = 0.15, test_fraction: float = 0.25, standardize: str = "feature") -> DataSplits:
    """178 wines, 13 chemical measurements, 3 cultivars."""
    return _tabular("wine", "load_wine", "classification", seed, val_fraction, test_fraction, standardize)


def breast_cancer(seed: int, val_fraction: float = 0.15, test_fraction: float = 0.25, standardize: str = "feature") -> DataSplits:
    """569 tumours, 30 features, malignant or benign."""
    return _tabular("breast_cancer", "load_breast_cancer", "classification", seed, val_fraction, test_fraction, standardize)


def diabetes(seed: int, val_fraction: float = 0.15, test_fraction: float = 0.25, standardize: str = "feature") -> DataSplits:
    """442 patients, 10 features, disease progression after one year (regression)."""
    return _tabular("diabetes", "load_diabetes", "regression", seed, val_fraction, test_fraction, standardize)
