"""U-Net (Ronneberger, Fischer and Brox, MICCAI 2015), small: an encoder of double-conv blocks and 2x2 max-pools,
a decoder that upsamples, concatenates the encoder's feature map of the same size (the skip) and convolves again,
and a 1x1 convolution to one logit per class and pixel. Padded convolutions keep the output the input's size
(the paper's unpadded ones crop it).

The skip join is a ``FloatFunctional().cat`` rather than ``torch.cat``: in float it is the same concatenation (it
holds no weights, so checkpoints are unchanged), and eager int8 quantization (``nnml accelerate``'s
``int8_static``) observes its output and converts it to a concatenation that requantizes both inputs to one scale;
a plain ``torch.cat`` of two int8 tensors with different scales runs but is badly wrong."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nnml.errors import NnmlError


def image_shape(input_shape, model: str) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise NnmlError(f"model={model} needs image data of shape (channels, height, width); this dataset gives "
                        f"input_shape={tuple(input_shape)}: use dataset=shapes or dataset=image_folder_masks")
    return tuple(int(s) for s in input_shape)


class DoubleConv(nn.Sequential):
    """(conv 3x3 -> [batch norm] -> ReLU) twice."""

    def __init__(self, c_in: int, c_out: int, batch_norm: bool = True, dropout: float = 0.0):
        layers: list[nn.Module] = []
        for c in (c_in, c_out):
            # Batch norm makes the conv bias redundant (it subtracts the mean).
            layers.append(nn.Conv2d(c, c_out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class Up(nn.Module):
    """Upsample x2 (transposed conv, or bilinear + 1x1 conv to halve the channels), join the skip, DoubleConv."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, upsample: str, batch_norm: bool):
        super().__init__()
        if upsample == "transpose":
            self.up = nn.ConvTranspose2d(c_in, c_in // 2, 2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(c_in, c_in // 2, 1))
        self.conv = DoubleConv(c_in // 2 + c_skip, c_out, batch_norm)
        self.join = torch.ao.nn.quantized.FloatFunctional()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:
            # Odd sizes lose a row in pooling: pad back to the skip's size rather than demand sizes divisible by 2^depth.
            dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
            x = F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])
        return self.conv(self.join.cat([skip, x], 1))


class UNet(nn.Module):
    """``depth`` poolings; widths ``base_width * 2**level``; ``upsample``: ``transpose`` or ``bilinear``.
    Channels and classes come from the data (``input_shape``, ``num_outputs``)."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, depth: int = 3, base_width: int = 16,
                 batch_norm: bool = True, upsample: str = "transpose", dropout: float = 0.0):
        super().__init__()
        c, h, w = image_shape(input_shape, "unet")
        if upsample not in ("transpose", "bilinear"):
            raise NnmlError(f"model.upsample={upsample} is not valid; choose one of: bilinear, transpose")
        if depth < 1 or min(h, w) < 2 ** depth:
            raise NnmlError(f"model.depth={depth} is not valid for {h}x{w} images; use 1..{max(1, min(h, w).bit_length() - 1)}")
        widths = [int(base_width) * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(c, widths[0], batch_norm)
        self.downs = nn.ModuleList(DoubleConv(widths[i], widths[i + 1], batch_norm, dropout if i == depth - 1 else 0.0)
                                   for i in range(depth))
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i], widths[i], upsample, batch_norm)
                                 for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.head(y)
