"""Segmentation losses against PyTorch's cross-entropy, torchmetrics' Dice score and the focal loss's closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnml.errors import NnmlError
from nnml.tasks.segmentation.losses import CEDiceLoss, DiceLoss, FocalLoss, check_weight, cross_entropy


def _batch(seed=0, k=4, ignore=True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, k, 6, 5, generator=g)
    target = torch.randint(0, k, (3, 6, 5), generator=g)
    if ignore:
        target[0, 0] = 255
    return logits, target


def test_cross_entropy_factory_is_torchs_loss_with_tensor_weights():
    logits, target = _batch()
    w = [0.5, 1.0, 2.0, 1.5]
    ours = cross_entropy(weight=w, ignore_index=255)
    assert type(ours) is nn.CrossEntropyLoss
    ref = nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=255)(logits, target)
    assert torch.allclose(ours(logits, target), ref)
    check_weight(ours, 4)
    with pytest.raises(NnmlError, match="4 classes"):
        check_weight(cross_entropy(weight=[1.0, 2.0]), 4)
    with pytest.raises(NnmlError, match="loss.weight"):
        cross_entropy(weight=[1.0, -1.0])


def test_focal_with_gamma_zero_is_weighted_cross_entropy():
    logits, target = _batch(1)
    w = [0.5, 1.0, 2.0, 1.5]
    ref = nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=255)(logits, target)
    assert torch.allclose(FocalLoss(gamma=0.0, weight=w)(logits, target), ref, atol=1e-6)


def test_focal_closed_form_down_weights_easy_pixels():
    # Two pixels, two classes: p_t = sigmoid(2) (easy) and sigmoid(-1) (hard).
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    target = torch.tensor([[[0, 0]]])
    p = torch.sigmoid(torch.tensor([2.0, -1.0]))
    expected = (-(1 - p) ** 2 * p.log()).mean()
    assert torch.allclose(FocalLoss(gamma=2.0)(logits, target), expected, atol=1e-6)


def test_soft_dice_of_hard_predictions_is_one_minus_torchmetrics_dice():
    from torchmetrics.segmentation import DiceScore

    logits, target = _batch(2, ignore=False)
    pred = logits.argmax(1)
    sharp = logits * 1e4  # softmax becomes the one-hot argmax
    loss = DiceLoss(smooth=0.0)(sharp, target)
    dice = DiceScore(num_classes=4, average="macro", input_format="index", aggregation_level="global")(pred, target)
    assert float(loss) == pytest.approx(1 - float(dice), abs=1e-5)


def test_dice_ignores_pixels_and_has_gradients():
    logits, target = _batch(3)
    logits.requires_grad_(True)
    loss = DiceLoss()(logits, target)
    loss.backward()
    assert logits.grad[0, :, 0].abs().sum() == 0  # the ignored row gets no gradient
    assert logits.grad.abs().sum() > 0
    assert 0 < float(loss.detach()) < 1


def test_ce_dice_is_the_weighted_sum_of_its_parts():
    logits, target = _batch(4)
    both = CEDiceLoss(ce_weight=0.7, dice_weight=0.3, weight=[1, 2, 1, 1])(logits, target)
    ce = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2, 1, 1]), ignore_index=255)(logits, target)
    assert torch.allclose(both, 0.7 * ce + 0.3 * DiceLoss()(logits, target))
