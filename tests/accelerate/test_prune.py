"""Structured pruning really shrinks the layers (and their MACs, checked in closed form); unstructured pruning
zeroes exactly the asked share of weights and changes no shape; pruned models rebuild from their state dicts."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from nnml.accelerate import measure, prune
from nnml.accelerate.variant import Skip


def mlp_macs(m: nn.Module) -> int:
    return sum(layer.in_features * layer.out_features for layer in m.modules() if isinstance(layer, nn.Linear))


def test_structured_pruning_halves_hidden_units_not_outputs(mlp, method_ctx):
    v = prune.prune_structured(mlp, method_ctx(finetune_epochs=1))
    widths = [layer.out_features for layer in v.module.modules() if isinstance(layer, nn.Linear)]
    assert widths == [32, 32, 10]
    x = torch.zeros(1, 1, 8, 8)
    assert measure.count_flops(v.module, x) == 2 * mlp_macs(v.module)  # flop_counter: 2 per MAC
    # 64*64 + 64*64 + 64*10 -> 64*32 + 32*32 + 32*10: the input layer keeps its 64 inputs
    assert measure.count_flops(mlp, x) == 2 * (64 * 64 + 64 * 64 + 64 * 10)
    assert "fine-tuned 1 epochs" in " ".join(v.notes)


def test_structured_pruning_of_a_cnn_shrinks_convs_and_the_head_input(cnn, method_ctx):
    v = prune.prune_structured(cnn, method_ctx(finetune_epochs=0))
    m = v.module
    assert (m.features[0].out_channels, m.features[3].in_channels, m.features[3].out_channels) == (4, 4, 8)
    assert m.head[1].in_features == 8 * 2 * 2 and m.head[-1].out_features == 10
    x = torch.zeros(1, 1, 8, 8)
    assert measure.count_flops(cnn, x) / measure.count_flops(m, x) >= 3
    # the pruned CNN rebuilds from its state dict alone
    state = torch.load(v.files[0], weights_only=True)
    rebuilt = prune.resize_to(copy.deepcopy(cnn), state).eval()
    inp = torch.randn(5, 1, 8, 8)
    with torch.inference_mode():
        assert torch.equal(rebuilt(inp), m(inp))


def test_unstructured_pruning_zeroes_the_ratio_and_keeps_shapes(mlp, method_ctx):
    v = prune.prune_unstructured(mlp, method_ctx(ratio=0.5, finetune_epochs=1))
    for before, after in zip(mlp.modules(), v.module.modules()):
        if isinstance(before, nn.Linear):
            assert after.weight.shape == before.weight.shape
            # fine-tuning kept the masked weights at zero
            assert int((after.weight == 0).sum()) == round(0.5 * after.weight.numel())
            assert not hasattr(after, "weight_mask")  # the masks were made permanent
    counts = measure.count_parameters(v.module)
    assert counts["params"] == measure.count_parameters(mlp)["params"] and counts["nonzero"] < 0.6 * counts["params"]


def test_pruning_ratio_outside_0_1_is_skipped(mlp, method_ctx):
    with pytest.raises(Skip, match="ratio=1.5"):
        prune.prune_structured(mlp, method_ctx(ratio=1.5))
