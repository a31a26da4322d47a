"""Paired augmentations: exact flips and quarter turns against torch.flip/rot90, image and mask moved together,
and the global RNG making them repeatable."""

from __future__ import annotations

import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.segmentation.augment import PairedAugment


def _batch(n=4, k=4, s=12, block=1):
    torch.manual_seed(0)
    masks = torch.randint(0, k, (n, s // block, s // block)).repeat_interleave(block, 1).repeat_interleave(block, 2)
    images = torch.cat([masks.unsqueeze(1).float(), torch.rand(n, 2, s, s)], 1)
    return images, masks


def test_certain_flips_equal_torch_flip():
    images, masks = _batch()
    x, m = PairedAugment(hflip=1.0)(images, masks)
    assert torch.allclose(x, images.flip(-1), atol=1e-5) and torch.equal(m, masks.flip(-1))
    x, m = PairedAugment(hflip=0.0, vflip=1.0)(images, masks)
    assert torch.allclose(x, images.flip(-2), atol=1e-5) and torch.equal(m, masks.flip(-2))


def test_a_quarter_turn_equals_rot90():
    images, masks = _batch()
    aug = PairedAugment(hflip=0.0)
    aug.rotate = 90.0
    theta = aug.sample_theta(4, "cpu")
    # sample_theta draws angles in [-90, 90]; fix them at +90 for this check.
    theta[:, :, :2] = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    theta[:, :, 2] = 0
    x = aug.warp(images, theta, "bilinear")
    m = aug.warp(masks.unsqueeze(1).float(), theta, "nearest").squeeze(1).long()
    ref_x, ref_m = images.rot90(1, dims=(-2, -1)), masks.rot90(1, dims=(-2, -1))
    if not torch.equal(m, ref_m):  # the other direction of turn, depending on the y axis pointing down
        ref_x, ref_m = images.rot90(-1, dims=(-2, -1)), masks.rot90(-1, dims=(-2, -1))
    assert torch.equal(m, ref_m) and torch.allclose(x, ref_x, atol=1e-5)


def test_image_and_mask_move_together():
    images, masks = _batch(n=16, s=24, block=6)  # 4x4 regions: few pixels lie on an edge
    aug = PairedAugment(hflip=0.5, vflip=0.5, rotate=15, scale=(0.9, 1.2), crop=0.8)
    x, m = aug(images, masks)
    assert x.shape == images.shape and m.shape == masks.shape and m.dtype == torch.long
    # Channel 0 of the image is the mask itself: bilinear and nearest resampling agree away from region edges.
    agree = (x[:, 0].round().long() == m).float().mean()
    assert agree > 0.85, agree
    assert not torch.equal(m, masks)
    assert set(m.unique().tolist()) <= set(masks.unique().tolist())


def test_repeatable_from_the_global_seed_and_zero_padding_ignores():
    images, masks = _batch()
    aug = PairedAugment(hflip=0.5, rotate=30, scale=(0.7, 0.8), padding="zeros", ignore_index=255)
    torch.manual_seed(5)
    a = aug(images, masks)
    torch.manual_seed(5)
    b = aug(images, masks)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert (a[1] == 255).any()  # zooming out by 0.7-0.8 brings in pixels from outside the image


def test_identity_and_bad_keys():
    images, masks = _batch()
    x, m = PairedAugment(hflip=0.0)(images, masks)
    assert x is images and m is masks
    with pytest.raises(NnmlError, match="task.augment"):
        PairedAugment(hflip=2.0)
    with pytest.raises(NnmlError, match="padding=wrap"):
        PairedAugment(padding="wrap")
