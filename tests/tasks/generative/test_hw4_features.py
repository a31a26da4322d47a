"""The feature network of the Frechet distance: trained once and cached, or taken from a classification run (whose
own test accuracy it reproduces); a run on other data is refused."""

from __future__ import annotations

import pytest
import torch

from nnml.data.sklearn_sets import digits
from nnml.errors import NnmlError
from nnml.tasks.generative import features as F
from tests.conftest import cli, read_metrics, run_dirs

CFG = {"_target_": "nnml.data.sklearn_sets.digits", "standardize": "unit", "val_fraction": 0.1, "test_fraction": 0.2}


def test_auto_is_trained_once_then_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("NNML_CACHE", str(tmp_path))
    monkeypatch.setattr(F, "EPOCHS", 2)
    data = digits(seed=0, standardize="unit")
    said = []
    state = torch.get_rng_state()
    first = F.build_feature_net("auto", data, CFG, 0, log=said.append)
    assert torch.equal(torch.get_rng_state(), state), "training the classifier leaves the caller's RNG alone"
    assert any("training the feature classifier" in s for s in said)
    path = F.cache_path(data, CFG, 0)
    assert path.is_file() and path.parent == tmp_path / "feature_nets"
    said.clear()
    second = F.build_feature_net("auto", data, CFG, 0, log=said.append)
    assert not said, "the second call loads the cache"
    x = data.x_test[:50]
    assert torch.equal(first(x), second(x)) and first.num_features == 10
    assert second.test_acc == first.test_acc == F.accuracy(first, data.x_test, data.y_test)
    assert F.cache_path(data, {**CFG, "test_fraction": 0.3}, 0) != path and F.cache_path(data, CFG, 1) != path


def test_a_classification_run_as_feature_net(tmp_path):
    r = cli(["train", "dataset.standardize=unit", "trainer.max_epochs=2", "trainer.num_threads=1",
                 "trainer.device=cpu", "logger=none"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (run,) = run_dirs(tmp_path)
    data = digits(seed=42, standardize="unit")
    net = F.build_feature_net(str(run), data, CFG, 42)
    assert net.test_acc == pytest.approx(read_metrics(run)["test/acc"], abs=1e-9)
    with pytest.raises(NnmlError, match="was trained with dataset.standardize=unit, this run has dataset.standardize=feature"):
        F.build_feature_net(str(run), data, {**CFG, "standardize": "feature"}, 42)
    with pytest.raises(NnmlError, match="task.feature_net=nope is not valid"):
        F.build_feature_net("nope", data, CFG, 42)
