"""U-Net and FCN: output one logit per class and pixel at the input's size, for odd sizes too, both upsampling
modes, and learn a tiny problem."""

from __future__ import annotations

import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.segmentation.fcn import FCN
from nnml.tasks.segmentation.unet import UNet


@pytest.mark.parametrize("make", [lambda s: UNet(s, 3, depth=2, base_width=4),
                                  lambda s: UNet(s, 3, depth=3, base_width=4, upsample="bilinear", batch_norm=False),
                                  lambda s: FCN(s, 3, channels=(4, 8, 8)),
                                  lambda s: FCN(s, 3, channels=(4, 8), skips=False, batch_norm=False)])
def test_output_shape_follows_input(make):
    for shape in ((1, 16, 16), (3, 19, 13)):
        y = make(shape)(torch.randn(2, *shape))
        assert y.shape == (2, 3, *shape[1:])


def test_field_notes_size_and_bad_keys():
    # depth 2, width 16 on 3-channel images and 4 classes: the 117k-parameter U-Net of the field notes.
    assert sum(p.numel() for p in UNet((3, 32, 32), 4, depth=2, base_width=16).parameters()) == 117_412
    with pytest.raises(NnmlError, match="model.upsample=nearest"):
        UNet((3, 16, 16), 2, upsample="nearest")
    with pytest.raises(NnmlError, match="model.depth=5"):
        UNet((3, 16, 16), 2, depth=5)
    with pytest.raises(NnmlError, match="model=fcn needs image data"):
        FCN((10,), 2)


def test_unet_learns_to_copy_a_mask():
    torch.manual_seed(0)
    masks = torch.randint(0, 2, (8, 12, 12))
    images = masks.unsqueeze(1).float() + 0.1 * torch.randn(8, 1, 12, 12)
    model = UNet((1, 12, 12), 2, depth=1, base_width=4)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(images), masks)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert (model(images).argmax(1) == masks).float().mean() > 0.95
