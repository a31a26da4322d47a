"""The methods on an encoder-decoder with BatchNorm, a transposed conv and a concatenated skip (the shape of a
U-Net): they run, keep the output shape, and the pruned one rebuilds from its state dict."""

from __future__ import annotations

import copy

import torch
from torch import nn

from nnml.accelerate import prune, quantize
from nnml.accelerate.variant import MethodContext


class TinyUNet(nn.Module):
    def __init__(self, c: int = 3, k: int = 4, w: int = 8):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.Sequential(nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(2 * w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU())
        self.out = nn.Conv2d(w, k, 1)

    def forward(self, x):
        a = self.down(x)
        return self.out(self.dec(torch.cat([self.up(self.mid(self.pool(a))), a], 1)))


def test_methods_run_on_a_unet_like_model(tmp_path):
    torch.manual_seed(0)
    model = TinyUNet().eval()
    x = torch.randn(8, 3, 16, 16)
    ctx = MethodContext(example=x, calibration=lambda: [x], out_dir=tmp_path, num_outputs=4,
                        options={"finetune_epochs": 0})
    with torch.inference_mode():
        ref = model(x)
    static = quantize.int8_static(model, ctx)  # transposed conv: per-tensor weights
    assert quantize.fusion_groups(model) == [["down.0", "down.1", "down.2"], ["mid.0", "mid.1", "mid.2"],
                                             ["dec.0", "dec.1", "dec.2"]]
    pruned = prune.prune_structured(model, ctx)
    assert pruned.module.up.out_channels == 4 and pruned.module.out.out_channels == 4
    with torch.inference_mode():
        assert static.module(x).shape == ref.shape
        assert (static.module(x).argmax(1) == ref.argmax(1)).float().mean() > 0.8
        rebuilt = prune.resize_to(copy.deepcopy(model), torch.load(pruned.files[0], weights_only=True)).eval()
        assert torch.equal(rebuilt(x), pruned.module(x))
