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


# Images drawn with NumPy: what a default run shows without importing matplotlib (~1 s of a ~4 s command, the
# largest part of nnml's whole-process time over a plain script; docs/performance.md).
PALETTE = np.array([[0.27, 0.46, 0.71], [0.87, 0.33, 0.25], [0.35, 0.63, 0.31], [0.58, 0.40, 0.74],
                    [0.93, 0.60, 0.20], [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.50, 0.50, 0.50],
                    [0.74, 0.74, 0.13], [0.09, 0.75, 0.81]])


def confusion_image(confusion: np.ndarray, cell: int = 24) -> torch.Tensor:
    """The confusion matrix as a CHW heatmap in [0, 1] (white = 0, dark blue = the largest count; rows are the
    true classes, columns the predicted ones), one ``cell``-pixel square per entry with a grid between them."""
    k = len(confusion)
    top = max(int(confusion.max()) if confusion.size else 1, 1)
    share = np.repeat(np.repeat(confusion / top, cell, 0), cell, 1)
    white, blue = np.array([0.97, 0.98, 1.0]), np.array([0.03, 0.19, 0.42])
    img = white + share[..., None] * (blue - white)
    img[::cell, :] = img[:, ::cell] = 0.6
    img[-1, :] = img[:, -1] = 0.6
    return torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32)).reshape(3, k * cell, k * cell)


def confusion_markdown(confusion: np.ndarray, class_names: list[str]) -> str:
    """The counts as a markdown table (TensorBoard's Text tab): rows true, columns predicted."""
    names = [str(c) for c in class_names] or [str(i) for i in range(len(confusion))]
    head = "| true \\ predicted | " + " | ".join(names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    rows = [f"| **{n}** | " + " | ".join(str(int(v)) for v in row) + " |" for n, row in zip(names, confusion)]
    return "\n".join([head, rule, *rows])


@torch.inference_mode()
def decision_boundary_image(model, x: torch.Tensor, y: torch.Tensor, device, size: int = 240) -> torch.Tensor:
    """Predicted class over a grid covering the 2-D inputs (pale), the points on top (their class's colour, a
    dark rim), as a CHW image in [0, 1]; the vertical axis points up, as in a plot."""
    x_np, y_np = x.cpu().numpy(), y.cpu().numpy().astype(int)
    lo, hi = x_np.min(0) - 0.5, x_np.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], size), np.linspace(hi[1], lo[1], size))
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32, device=device)
    was = model.training
    model.eval()
    pred = model(grid).argmax(1).cpu().numpy().reshape(size, size)
    model.train(was)
    colors = PALETTE[np.arange(max(int(pred.max()), int(y_np.max())) + 1) % len(PALETTE)]
    img = 0.65 + 0.35 * colors[pred]
    col = np.clip(((x_np[:, 0] - lo[0]) / (hi[0] - lo[0]) * (size - 1)).round().astype(int), 2, size - 3)
    row = np.clip(((hi[1] - x_np[:, 1]) / (hi[1] - lo[1]) * (size - 1)).round().astype(int), 2, size - 3)
    for dr in range(-2, 3):
        for dc in range(-2, 3):
            rim = max(abs(dr), abs(dc)) == 2
            img[row + dr, col + dc] = 0.15 if rim else colors[y_np]
    return torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32))
