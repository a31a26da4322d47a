"""Scratch optimizers against torch.optim: same parameters after 100 steps, and state_dict round trips."""

import pathlib

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nnml.lab import optim

CONFIGS = pathlib.Path(__file__).parents[2] / "configs" / "optimizer"

SETTINGS = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.05)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, weight_decay=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.9, nesterov=True)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.5, nesterov=True, weight_decay=0.05)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, weight_decay=0.05)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.005, momentum=0.9, centered=True)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.5, 0.9), eps=1e-6, amsgrad=True)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.3)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]


def _problem(seed=0):
    """A small random non-convex least-squares problem with two parameter tensors (float64)."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(32, 5, generator=g, dtype=torch.float64), torch.randn(32, 3, generator=g, dtype=torch.float64)
    w1 = torch.randn(8, 5, generator=g, dtype=torch.float64) * 0.5
    w2 = torch.randn(3, 8, generator=g, dtype=torch.float64) * 0.5
    return x, y, [w1, w2]


def _run(cls, kwargs, steps, start=None, seed=0, state=None):
    x, y, init = _problem(seed)
    params = [torch.nn.Parameter(p.clone()) for p in (start or init)]
    opt = cls(params, **kwargs)
    if state is not None:
        opt.load_state_dict(state)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((torch.tanh(x @ params[0].T) @ params[1].T - y) ** 2).mean()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in params], opt


def _id(setting):
    return f"{setting[0].__name__}-" + "-".join(f"{k}={v}" for k, v in setting[2].items())


@pytest.mark.parametrize("setting", SETTINGS, ids=[_id(s) for s in SETTINGS])
def test_follows_torch_for_100_steps(setting):
    ours_cls, torch_cls, kwargs = setting
    ours, _ = _run(ours_cls, kwargs, 100)
    theirs, _ = _run(torch_cls, kwargs, 100)
    start = _problem()[2]
    assert any((a - s).abs().max() > 1e-2 for a, s in zip(ours, start)), "the parameters should have moved"
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


STATEFUL = [SETTINGS[i] for i in (3, 5, 7, 10, 13, 16)]  # every class, with its state-carrying options


@pytest.mark.parametrize("setting", STATEFUL, ids=[_id(s) for s in STATEFUL])
def test_state_dict_round_trip_continues_exactly(setting):
    ours_cls, _, kwargs = setting
    uninterrupted, _ = _run(ours_cls, kwargs, 100)
    halfway, opt = _run(ours_cls, kwargs, 50)
    saved = opt.state_dict()
    resumed, _ = _run(ours_cls, kwargs, 50, start=halfway, state=saved)
    for a, b in zip(resumed, uninterrupted):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


SCRATCH_TO_TORCH = {
    "nnml.lab.optim.SGD": "torch.optim.SGD",
    "nnml.lab.optim.Adagrad": "torch.optim.Adagrad",
    "nnml.lab.optim.RMSprop": "torch.optim.RMSprop",
    "nnml.lab.optim.Adam": "torch.optim.Adam",
    "nnml.lab.optim.AdamW": "torch.optim.AdamW",
}


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_config_takes_torch_keys_and_matches_torch(name):
    path = CONFIGS / f"scratch_{name}.yaml"
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# ") and lines[1].startswith("# nnml train optimizer=scratch_")
    cfg = OmegaConf.load(path)
    assert cfg._partial_ is True
    twin = OmegaConf.merge(cfg, {"_target_": SCRATCH_TO_TORCH[cfg._target_]})
    ours, _ = _run(lambda params, **kw: instantiate(cfg)(params=params), {}, 100)
    theirs, _ = _run(lambda params, **kw: instantiate(twin)(params=params), {}, 100)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
