"""The methods on an encoder-decoder with BatchNorm, a transposed conv and a concatenated skip (the shape of a
U-Net): they run, keep the output shape, and the pruned one rebuilds from its state dict; static int8 refuses a
plain torch.cat (its int8 inputs have different scales: badly wrong outputs) and converts FloatFunctional's; a
transposed conv whose int8 kernel is wrong on this engine stays float."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from nnml.accelerate import prune, quantize
from nnml.accelerate.variant import MethodContext, Skip


class TinyUNet(nn.Module):
    def __init__(self, c: int = 3, k: int = 4, w: int = 8, float_functional: bool = False):
        super().__init__()
        self.join = nn.quantized.FloatFunctional() if float_functional else None
        self.down = nn.Sequential(nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.Sequential(nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(2 * w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU())
        self.out = nn.Conv2d(w, k, 1)

    def forward(self, x):
        a = self.down(x)
        parts = [self.up(self.mid(self.pool(a))), a]
        joined = self.join.cat(parts, 1) if self.join is not None else torch.cat(parts, 1)
        return self.out(self.dec(joined))


def test_methods_run_on_a_unet_like_model(tmp_path):
    torch.manual_seed(0)
    model = TinyUNet().eval()
    x = torch.randn(8, 3, 16, 16)
    ctx = MethodContext(example=x, calibration=lambda: [x], out_dir=tmp_path, num_outputs=4,
                        options={"finetune_epochs": 0})
    assert quantize.fusion_groups(model) == [["down.0", "down.1", "down.2"], ["mid.0", "mid.1", "mid.2"],
                                             ["dec.0", "dec.1", "dec.2"]]
    with pytest.raises(Skip, match="concatenates with torch.cat"):
        quantize.int8_static(model, ctx)
    pruned = prune.prune_structured(model, ctx)
    assert pruned.module.up.out_channels == 4 and pruned.module.out.out_channels == 4
    with torch.inference_mode():
        assert pruned.module(x).shape == (8, 4, 16, 16)
        rebuilt = prune.resize_to(copy.deepcopy(model), torch.load(pruned.files[0], weights_only=True)).eval()
        assert torch.equal(rebuilt(x), pruned.module(x))


def test_static_int8_quantizes_a_float_functional_join(tmp_path):
    torch.manual_seed(0)
    model = TinyUNet(float_functional=True).eval()
    x = torch.randn(8, 3, 16, 16)
    ctx = MethodContext(example=x, calibration=lambda: [x], out_dir=tmp_path, num_outputs=4)
    static = quantize.int8_static(model, ctx)  # transposed conv: per-tensor weights, or float where its kernel is wrong
    import torch.ao.nn.quantized as nnq

    from nnml.accelerate.kernels import FloatIsland

    up = static.module.module.up
    assert isinstance(up, nnq.ConvTranspose2d) or (isinstance(up, FloatIsland) and static.extra["float_layers"] ==
                                                   ["up"] and "kept float32: 1 ConvTranspose2d (up)" in
                                                   " ".join(static.notes))
    assert isinstance(static.module.module.join, nnq.QFunctional)
    with torch.inference_mode():
        assert static.module(x).shape == model(x).shape
    # how close its outputs are: tests/accelerate/test_kernels.py; on a trained model, the run's test metric
