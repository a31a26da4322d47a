"""Per-image records of a segmentation evaluation, from which its metrics are recomputed exactly on any subset of
images (what :func:`nnml.stats.paired_bootstrap` resamples: images, not pixels, are the independent samples).

Records (one row per image, in evaluation order)::

    index      int64 (N,)        position of the image in the split
    confusion  int64 (N, K, K)   confusion[i, target, prediction]: pixel counts of image i; pixels whose target
                                 is the data's ignore_index are not counted (as in SegMetrics)
    loss       float64 (N,)      optional: the per-image loss, when the caller has it

:func:`metrics_from_records` sums the matrices of the chosen images and applies the formulas of
:class:`nnml.tasks.segmentation.metrics.SegMetrics`: ``pixel_acc``, ``miou`` and ``mdice`` (means over the classes
present in the targets or predictions of those images), per-class ``iou/<name>`` and ``dice/<name>`` on request.
"""

from __future__ import annotations

import numpy as np
import torch

from nnml.errors import NnmlError
from nnml.tasks.segmentation.metrics import confusion_scores


@torch.no_grad()
def records_from_batch(outputs: torch.Tensor, targets: torch.Tensor, num_classes: int, ignore_index: int = 255,
                       offset: int = 0, losses: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """The records of one batch: ``outputs`` logits (N, K, H, W) or predicted ids (N, H, W), ``targets`` ids
    (N, H, W); ``offset``: the index of the batch's first image in the split."""
    k = int(num_classes)
    pred = outputs.argmax(1) if outputs.dim() == targets.dim() + 1 else outputs
    n = int(targets.shape[0])
    image = torch.arange(n, device=targets.device).view(n, *([1] * (targets.dim() - 1))).expand_as(targets)
    valid = targets != ignore_index
    idx = (image[valid] * k + targets[valid].long()) * k + pred[valid].long()
    confusion = torch.bincount(idx, minlength=n * k * k).view(n, k, k)
    out = {"index": np.arange(offset, offset + n, dtype=np.int64), "confusion": confusion.cpu().numpy()}
    if losses is not None:
        losses = losses.detach().double().reshape(-1)
        if losses.numel() != n:
            raise NnmlError(f"losses holds {losses.numel()} values for a batch of {n} images; give one per image")
        out["loss"] = losses.cpu().numpy()
    return out


def metrics_from_records(records, class_names=None, per_class: bool = False) -> dict[str, float]:
    """``pixel_acc``, ``miou``, ``mdice`` (NaN when no pixel counts), ``loss`` when the records hold it, and with
    ``per_class`` the per-class IoU and Dice (NaN for a class absent from targets and predictions)."""
    cm = np.asarray(records["confusion"]).sum(0).astype(np.float64)
    out = {"loss": float(np.mean(records["loss"]))} if "loss" in records else {}
    names = (list(class_names) if class_names else [str(i) for i in range(len(cm))]) if per_class else None
    out.update(confusion_scores(cm, names))
    return out
