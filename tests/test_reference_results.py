"""Results the issue promises, against reference numbers: scikit-learn's MLP gets 0.97-0.98 on digits, linear
regression R^2 ~0.43 on diabetes, moons are separable; and a seeded short run matches pinned loss values."""

import pytest

from tests.conftest import compose, train_config

QUIET = ["trainer.num_threads=1", "trainer.device=cpu", "logger=none"]


def _run(tmp_path, *overrides):
    return train_config(compose([*QUIET, *overrides]), tmp_path, quiet=True)


def test_default_run_reaches_097_on_digits(tmp_path):
    m = _run(tmp_path)
    assert m["test/acc"] >= 0.97, m["test/acc"]


def test_diabetes_mlp_mse_r2(tmp_path):
    m = _run(tmp_path, "dataset=diabetes", "model=mlp", "loss=mse")
    assert m["test/r2"] >= 0.35, m["test/r2"]


def test_moons_tanh_sgd_separates(tmp_path):
    m = _run(tmp_path, "dataset=moons", "model=mlp", "model.activation=tanh", "optimizer=sgd", "optimizer.lr=0.1")
    assert m["test/acc"] >= 0.95, m["test/acc"]


# Pinned from a seeded CPU run with 1 thread (torch 2.13); a change here means the numerics of the default
# pipeline changed (data split, init, batch order, loss): deliberate changes update the pins.
PINNED = [
    (["trainer.max_epochs=3"],
     {"train/loss": 0.6401843427664146, "val/loss": 0.4483220875263214, "test/loss": 0.4284469783306122}),
    (["trainer.max_epochs=3", "dataset=diabetes", "loss=mse", "optimizer=sgd", "optimizer.lr=0.05"],
     {"train/loss": 0.521520691706722, "val/loss": 0.4163878560066223, "test/r2": 0.48484527453468995}),
]


@pytest.mark.parametrize("overrides,expected", PINNED)
def test_seeded_short_run_matches_pinned_values(tmp_path, overrides, expected):
    m = _run(tmp_path, *overrides)
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-4), key
