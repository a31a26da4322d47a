"""Figures of the supervised task: the confusion matrix (classification) and the decision boundary (2-D inputs)."""

from __future__ import annotations

import numpy as np
import torch


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_figure(confusion: np.ndarray, class_names: list[str]):
    plt = _plt()
    k = len(confusion)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * k, 1 + 0.45 * k))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(k), class_names, rotation=45 if k > 5 else 0)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = confusion.max() if confusion.size else 1
    for i in range(k):
        for j in range(k):
            ax.text(j, i, int(confusion[i, j]), ha="center", va="center",
                    color="white" if confusion[i, j] > top / 2 else "black", fontsize=8)
    fig.tight_layout()
    return fig


@torch.inference_mode()
def decision_boundary_figure(model, x: torch.Tensor, y: torch.Tensor, device, title: str = ""):
    """Predicted class over a grid covering the (standardized) 2-D inputs, with the points on top."""
    plt = _plt()
    x_np, y_np = x.cpu().numpy(), y.cpu().numpy()
    lo, hi = x_np.min(0) - 0.5, x_np.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32, device=device)
    was = model.training
    model.eval()
    pred = model(grid).argmax(1).cpu().numpy().reshape(gx.shape)
    model.train(was)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.contourf(gx, gy, pred, alpha=0.3, cmap="coolwarm", levels=np.arange(pred.max() + 2) - 0.5)
    ax.scatter(x_np[:, 0], x_np[:, 1], c=y_np, cmap="coolwarm", s=8, edgecolors="k", linewidths=0.2)
    ax.set_title(title or "decision boundary")
    fig.tight_layout()
    return fig


@torch.inference_mode()
def confusion_matrix(model, batches, device, autocast, num_classes: int) -> np.ndarray:
    model.eval()
    cm = torch.zeros(num_classes, num_classes, dtype=torch.long, device=device)
    for xb, yb in (batches.epoch(0) if hasattr(batches, "epoch") else batches):
        with autocast():
            pred = model(xb).argmax(1)
        cm += torch.bincount(yb * num_classes + pred, minlength=num_classes**2).view(num_classes, num_classes)
    return cm.cpu().numpy()
