"""Per-layer statistics at logging steps (nnml/engine/probe.py) against what torch computes directly."""

from __future__ import annotations

import torch
from torch import nn

from nnml.engine.probe import LayerProbe


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))


def test_gradient_norms_are_each_layers_own():
    model = _net()
    probe = LayerProbe(model)
    x = torch.randn(16, 4)
    model(x).pow(2).sum().backward()
    got = probe.read()
    for name in ("0", "2", "4"):
        layer = model[int(name)]
        want = torch.cat([layer.weight.grad.flatten(), layer.bias.grad.flatten()]).norm().item()
        assert abs(got[f"layers/grad_norm/{name}:Linear"] - want) < 1e-5 * max(1.0, want)


def test_activation_statistics_come_from_the_next_training_forward_only_once():
    model = _net()
    probe = LayerProbe(model)
    probe.read()  # arms the hooks
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every unit of the first ReLU is dead: it passes on zeros
        model[2].bias.fill_(5.0)  # ... so the tanh sees its bias alone: tanh(5) = 0.9999, saturated
    model.eval()
    model(torch.randn(16, 4))  # an evaluation forward: not captured
    assert any(m._forward_hooks for m in model.modules())
    model.train()
    model(torch.randn(16, 4))
    assert not any(m._forward_hooks for m in model.modules()), "the hooks removed themselves"
    got = probe.read()
    assert got["layers/dead/1:ReLU"] == 1.0 and got["layers/saturated/3:Tanh"] == 1.0
    assert abs(got["layers/act_mean/3:Tanh"] - torch.tanh(torch.tensor(5.0)).item()) < 1e-6
    got = probe.read()  # nothing ran since: gradients only
    assert not any(k.startswith(("layers/dead", "layers/saturated")) for k in got)
    probe.close()
    assert not any(m._forward_hooks for m in model.modules())


def test_dead_fraction_counts_units_never_positive_on_the_batch():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU())
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.copy_(torch.tensor([1.0, -1.0, -1.0, 1.0]))
    probe = LayerProbe(model)
    probe.read()
    model(torch.randn(5, 2))
    assert probe.read()["layers/dead/1:ReLU"] == 0.5
    probe.close()
