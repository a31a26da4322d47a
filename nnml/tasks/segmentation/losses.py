"""Segmentation losses on logits (N, K, H, W) and class-id targets (N, H, W), all honouring ``ignore_index``.

- cross-entropy: ``torch.nn.CrossEntropyLoss`` itself (class weights, ``ignore_index``, label smoothing);
  :func:`cross_entropy` only turns a list of weights from YAML into the tensor torch wants;
- :class:`DiceLoss`: 1 - soft Dice (Milletari et al., V-Net 2016), softmax probabilities against one-hot
  targets, summed over the batch's pixels per class, averaged over classes;
- :class:`FocalLoss`: (1 - p_t)^gamma times the per-pixel cross-entropy (Lin et al., ICCV 2017), optional class
  weights (alpha), averaged like torch's weighted cross-entropy (divided by the summed weights);
- :class:`CEDiceLoss`: ``ce_weight`` * cross-entropy + ``dice_weight`` * Dice.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nnml.errors import NnmlError


def _weight_tensor(weight) -> torch.Tensor | None:
    if weight is None:
        return None
    w = torch.as_tensor(list(weight) if not isinstance(weight, torch.Tensor) else weight, dtype=torch.float32)
    if w.dim() != 1 or (w < 0).any():
        raise NnmlError(f"loss.weight={list(weight)} is not valid; give one non-negative weight per class")
    return w


def cross_entropy(weight=None, ignore_index: int = 255, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> nn.CrossEntropyLoss:
    """``torch.nn.CrossEntropyLoss`` with ``weight`` given as a list (one per class, background first)."""
    return nn.CrossEntropyLoss(weight=_weight_tensor(weight), ignore_index=ignore_index,
                               label_smoothing=label_smoothing, reduction=reduction)


def check_weight(loss: nn.Module, num_classes: int) -> None:
    """Class weights must match the data's classes: say so before training, not with a shape error mid-epoch."""
    w = getattr(loss, "weight", None)
    if w is not None and w.numel() != num_classes:
        raise NnmlError(f"loss.weight has {w.numel()} values but the data has {num_classes} classes; give one "
                        f"weight per class, background first")


class DiceLoss(nn.Module):
    """1 - mean over classes of (2 sum p*t + smooth) / (sum p + sum t + smooth); ``include_background=false``
    leaves class 0 out of the mean. Classes absent from a batch's targets and predictions score 1 through
    ``smooth`` (no gradient toward predicting them)."""

    def __init__(self, smooth: float = 1.0, include_background: bool = True, ignore_index: int = 255):
        super().__init__()
        self.smooth, self.include_background, self.ignore_index = float(smooth), include_background, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        k = logits.shape[1]
        probs = logits.float().softmax(1)
        valid = (target != self.ignore_index).unsqueeze(1)
        onehot = F.one_hot(torch.where(valid.squeeze(1), target, 0), k).movedim(-1, 1).to(probs.dtype)
        probs, onehot = probs * valid, onehot * valid
        dims = (0, *range(2, logits.dim()))
        inter = (probs * onehot).sum(dims)
        denom = probs.sum(dims) + onehot.sum(dims)
        dice = (2 * inter + self.smooth) / (denom + self.smooth).clamp_min(1e-12)
        if not self.include_background:
            dice = dice[1:]
        return 1 - dice.mean()


class FocalLoss(nn.Module):
    """Multi-class focal loss; ``gamma=0`` is cross-entropy. ``weight``: per-class alpha, as in CrossEntropyLoss."""

    def __init__(self, gamma: float = 2.0, weight=None, ignore_index: int = 255):
        super().__init__()
        self.gamma, self.ignore_index = float(gamma), ignore_index
        self.register_buffer("weight", _weight_tensor(weight))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), 1)
        valid = target != self.ignore_index
        t = torch.where(valid, target, 0)
        logp_t = logp.gather(1, t.unsqueeze(1)).squeeze(1)
        loss = -((1 - logp_t.exp()) ** self.gamma) * logp_t
        w = valid.to(loss.dtype)
        if self.weight is not None:
            w = w * self.weight.to(loss.device)[t]
        return (loss * w).sum() / w.sum().clamp_min(1e-12)


class CEDiceLoss(nn.Module):
    """``ce_weight`` * CrossEntropyLoss(weight, ignore_index) + ``dice_weight`` * DiceLoss."""

    def __init__(self, ce_weight: float = 1.0, dice_weight: float = 1.0, weight=None, ignore_index: int = 255,
                 smooth: float = 1.0, include_background: bool = True):
        super().__init__()
        self.ce_weight, self.dice_weight = float(ce_weight), float(dice_weight)
        self.ce = cross_entropy(weight, ignore_index)
        self.dice = DiceLoss(smooth, include_background, ignore_index)

    @property
    def weight(self):
        return self.ce.weight

    @property
    def ignore_index(self):
        return self.ce.ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.ce_weight * self.ce(logits, target) + self.dice_weight * self.dice(logits, target)
