"""Search-space files and their shell overrides, checked against Hydra's own override parser and closed forms."""

from __future__ import annotations

import pytest

from nnml.errors import NnmlError
from nnml.sweep import search_space as S


def test_packaged_spaces_are_valid():
    for name in ("lr_wd", "mlp", "optimizer"):
        space = S.validate(S.load(name))
        assert space
    lr = S.validate(S.load("lr_wd"))["optimizer.lr"]
    assert lr == {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}


def test_overrides_change_add_and_drop():
    base = S.load("lr_wd")
    name, space_ovs, train_ovs = S.split_overrides(
        ["search=lr_wd", "search.optimizer.lr.high=0.5", "+search.model.dropout={type:float,low:0,high:0.5,step:0.1}",
         "~search.optimizer.weight_decay", "dataset=moons", "optimizer.momentum=0.5"])
    assert name == "lr_wd" and train_ovs == ["dataset=moons", "optimizer.momentum=0.5"]
    space = S.validate(S.apply_overrides(base, space_ovs))
    assert set(space) == {"optimizer.lr", "model.dropout"}
    assert space["optimizer.lr"]["high"] == 0.5 and space["optimizer.lr"]["low"] == 1e-4
    assert S.grid({"model.dropout": space["model.dropout"]})["model.dropout"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert base["optimizer.lr"]["high"] == 0.1  # the loaded space itself is not changed


def test_grid_and_overrides_round_trip_through_hydra():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space = S.validate({"model.hidden": {"type": "categorical", "choices": [[64], [128, 128]]},
                        "dataset.batch_size": {"type": "int", "low": 32, "high": 128, "step": 32}})
    g = S.grid(space)
    assert g == {"model.hidden": ["[64]", "[128,128]"], "dataset.batch_size": [32, 64, 96, 128]}
    assert S.grid_size(space) == 8
    parser = OverridesParser.create()
    assert parser.parse_override(S.to_override("model.hidden", "[128,128]")).value() == [128, 128]
    assert parser.parse_override(S.to_override("optimizer.lr", 0.00012345678901)).value() == 0.00012345678901


@pytest.mark.parametrize("spec, message", [
    ({"type": "float", "low": 1, "high": 1}, "low (1.0) must be below high (1.0)"),
    ({"type": "int", "low": 1.5, "high": 3}, "type int needs whole low and high"),
    ({"type": "float", "low": 0.1, "high": 1, "log": True, "step": 0.1}, "either log: true or a step"),
    ({"type": "categorical", "choices": []}, "must be a non-empty list"),
    ({"type": "float", "lo": 0, "high": 1}, "search.k.lo is not a spec field (did you mean 'low'?)"),
    ({"type": "float", "low": "a", "high": 1}, "search.k.low must be a number"),
])
def test_bad_specs_name_key_and_fix(spec, message):
    with pytest.raises(NnmlError, match=None) as e:
        S.validate({"k": spec})
    assert message in str(e.value)
