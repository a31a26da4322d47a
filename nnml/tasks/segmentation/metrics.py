"""Segmentation metrics from a running confusion matrix kept on the device.

Every pixel whose target is not ``ignore_index`` adds one count to ``confusion[target, prediction]``; at the end
of a split the formulas read the whole matrix once (one host transfer):

- pixel accuracy: trace / total;
- IoU of class c: TP / (TP + FP + FN); Dice of class c: 2 TP / (2 TP + FP + FN);
- mean IoU / mean Dice: the mean over the classes present in the targets or the predictions of the split.

Counts are summed over the whole split before dividing (the PASCAL VOC / Cityscapes convention, torchmetrics'
``MulticlassJaccardIndex`` and ``DiceScore(aggregation_level="global")``), not averaged per image. A class absent
from both targets and predictions has no IoU: it is left out of the means, as torchmetrics documents for
``MeanIoU`` and ``MulticlassJaccardIndex`` (weight 0), and its per-class value is NaN (``MeanIoU(per_class=True)``
writes -1 there, ``DiceScore`` NaN, ``MulticlassJaccardIndex(average=None)`` 0).
"""

from __future__ import annotations

import numpy as np
import torch


class SegMetrics:
    """Accumulator with ``update(logits, targets, loss)``, ``state()``, ``compute()`` and ``reset()``;
    ``per_class``: whether ``compute()`` also reports ``iou/<class>`` and ``dice/<class>``."""

    def __init__(self, num_classes: int, class_names=None, ignore_index: int = 255, device=None,
                 per_class: bool = True):
        self.k = int(num_classes)
        self.report_per_class = per_class
        self.names = list(class_names) if class_names else [str(i) for i in range(self.k)]
        self.ignore_index = ignore_index
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.confusion = torch.zeros(self.k, self.k, dtype=torch.long, device=self.device)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.n = torch.zeros((), dtype=torch.float64, device=self.device)

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, targets: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        """``outputs``: logits (N, K, H, W) or predicted ids (N, H, W); ``targets``: ids (N, H, W)."""
        pred = outputs.argmax(1) if outputs.dim() == targets.dim() + 1 else outputs
        if self.confusion.device != targets.device:
            self.confusion = self.confusion.to(targets.device)
            self.loss_sum, self.n = self.loss_sum.to(targets.device), self.n.to(targets.device)
        valid = targets != self.ignore_index
        idx = targets[valid] * self.k + pred[valid]
        self.confusion += torch.bincount(idx, minlength=self.k * self.k).view(self.k, self.k)
        if loss is not None:
            n = targets.shape[0]
            self.loss_sum.add_(loss.detach().double(), alpha=n)
            self.n.add_(n)

    def state(self) -> dict[str, torch.Tensor]:
        """The live sums (checkpointed and all-reduced in place under DDP)."""
        return {"confusion": self.confusion, "loss_sum": self.loss_sum, "n": self.n}

    def load_state(self, state: dict, device=None) -> None:
        for k, v in state.items():
            setattr(self, k, v.to(device or v.device))

    def per_class(self) -> dict[str, np.ndarray]:
        """Per-class IoU and Dice (NaN where a class is absent from targets and predictions), and the matrix."""
        cm = self.confusion.double().cpu().numpy()
        iou, dice = class_iou_dice(cm)
        return {"iou": iou, "dice": dice, "confusion": cm}

    def compute(self) -> dict[str, float]:
        out = {}
        n = float(self.n.item())
        if n:
            out["loss"] = float(self.loss_sum.item()) / n
        out.update(confusion_scores(self.confusion.double().cpu().numpy(),
                                    self.names if self.report_per_class else None))
        return out


def class_iou_dice(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class IoU and Dice of a (true, predicted) confusion matrix; NaN for a class absent from both."""
    tp = np.diag(cm)
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    denom = tp + fp + fn
    present = denom > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(present, tp / denom, np.nan)
        dice = np.where(present, 2 * tp / (2 * tp + fp + fn), np.nan)
    return iou, dice


def confusion_scores(cm: np.ndarray, names=None) -> dict[str, float]:
    """``pixel_acc``, ``miou``, ``mdice`` of a confusion matrix (NaN when it counts no pixel; the means over the
    classes present), and with ``names`` the per-class ``iou/<name>`` and ``dice/<name>``."""
    iou, dice = class_iou_dice(cm)
    total = cm.sum()
    any_present = not np.isnan(iou).all()
    out = {"pixel_acc": float(np.trace(cm) / total) if total else float("nan"),
           "miou": float(np.nanmean(iou)) if any_present else float("nan"),
           "mdice": float(np.nanmean(dice)) if any_present else float("nan")}
    for name, i, d in zip(names or (), iou, dice):
        out[f"iou/{name}"] = float(i)
        out[f"dice/{name}"] = float(d)
    return out
