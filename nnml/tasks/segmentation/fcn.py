"""A small fully convolutional network (after Long, Shelhamer and Darrell, CVPR 2015): a conv encoder that halves
the resolution per stage, a 1x1 classifier on the coarsest map, and bilinear upsampling back to the input size,
adding the class scores of finer stages on the way (FCN-8s-style skips) when ``skips`` is true."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nnml.tasks.segmentation.unet import DoubleConv, image_shape


class FCN(nn.Module):
    """Stage i: DoubleConv to ``channels[i]`` then a 2x2 max-pool. Channels and classes come from the data."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, channels=(16, 32, 64), batch_norm: bool = True,
                 skips: bool = True):
        super().__init__()
        c_in, _, _ = image_shape(input_shape, "fcn")
        stages = []
        for c in channels:
            stages.append(DoubleConv(c_in, int(c), batch_norm))
            c_in = int(c)
        self.stages = nn.ModuleList(stages)
        self.classify = nn.Conv2d(c_in, num_outputs, 1)
        # Score layers for the finer stages' outputs (pooled maps at 1/2, 1/4, ...), added in on the way up.
        self.skip_scores = nn.ModuleList(nn.Conv2d(int(c), num_outputs, 1) for c in channels[:-1]) if skips else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats = []
        for stage in self.stages:
            x = F.max_pool2d(stage(x), 2)
            feats.append(x)
        score = self.classify(feats[-1])
        if self.skip_scores is not None:
            for f, layer in zip(reversed(feats[:-1]), reversed(self.skip_scores)):
                score = F.interpolate(score, size=f.shape[-2:], mode="bilinear", align_corners=False) + layer(f)
        return F.interpolate(score, size=size, mode="bilinear", align_corners=False)
