"""Pictures of segmentations: class colours, mask overlays, the input / truth / prediction grid, the per-class IoU
bar chart, and PNG masks that keep class ids as pixel values (palette PNGs: viewers show colours)."""

from __future__ import annotations

import math

import numpy as np
import torch

# tab10's colours without its grey (kept for ignored pixels); background (class 0) is drawn transparent.
PALETTE = np.array([[60, 60, 60], [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
                    [140, 86, 75], [227, 119, 194], [188, 189, 34], [23, 190, 207]], dtype=np.uint8)
IGNORED = np.array([127, 127, 127], dtype=np.uint8)


def colours(k: int) -> np.ndarray:
    """(k, 3) uint8 class colours; beyond the palette, evenly spaced hues."""
    if k <= len(PALETTE):
        return PALETTE[:k]
    import colorsys

    extra = [np.array(colorsys.hsv_to_rgb(i / (k - len(PALETTE)), 0.8, 0.9)) * 255 for i in range(k - len(PALETTE))]
    return np.concatenate([PALETTE, np.array(extra, dtype=np.uint8)])


def denormalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Standardized (N, C, H, W) images back to [0, 1] RGB (grey images repeated to three channels)."""
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    img = (x * s + m).clamp(0, 1)
    return img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img[:, :3]


def overlay(images: torch.Tensor, masks: torch.Tensor, k: int, ignore_index: int = 255, alpha: float = 0.7) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1]: the image in grey (so that class colours stand out on colourful pictures) with each
    non-background class blended in its colour, ignored pixels grey."""
    table = torch.zeros(max(k, 1) + 1, 3)
    table[:k] = torch.from_numpy(colours(k)).float() / 255
    table[k] = torch.from_numpy(IGNORED).float() / 255
    m = masks.long().cpu()
    idx = torch.where(m == ignore_index, torch.tensor(k), m.clamp(0, k - 1))
    col = table[idx].permute(0, 3, 1, 2)  # (N, 3, H, W)
    a = ((m != 0).float() * alpha).unsqueeze(1)
    grey = images.cpu().float().mean(1, keepdim=True).expand(-1, 3, -1, -1) * 0.8
    return grey * (1 - a) + col * a


def grid(columns: list[torch.Tensor], min_side: int = 96, pad: int = 2) -> torch.Tensor:
    """One CHW image: a row per sample, a column per tensor of (N, 3, H, W); upscaled by an integer factor (nearest)
    so small images stay visible in TensorBoard."""
    n, _, h, w = columns[0].shape
    f = max(1, math.ceil(min_side / min(h, w)))
    cols = [c.repeat_interleave(f, 2).repeat_interleave(f, 3) for c in columns]
    H, W = h * f, w * f
    out = torch.ones(3, n * (H + pad) + pad, len(cols) * (W + pad) + pad)
    for j, c in enumerate(cols):
        for i in range(n):
            y0, x0 = pad + i * (H + pad), pad + j * (W + pad)
            out[:, y0:y0 + H, x0:x0 + W] = c[i]
    return out


def iou_bar_chart(names: list[str], iou, dice=None, title: str = "test per-class IoU"):
    """A matplotlib Figure: one bar per class (IoU, Dice beside it); absent classes say so instead of a bar."""
    from matplotlib.figure import Figure

    iou = np.asarray(iou, dtype=float)
    fig = Figure(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.2), constrained_layout=True)
    ax = fig.subplots()
    x = np.arange(len(names))
    width = 0.4 if dice is not None else 0.7
    shift = width / 2 if dice is not None else 0
    ax.bar(x - shift, np.nan_to_num(iou), width, label="IoU", color=[c / 255 for c in colours(len(names))])
    if dice is not None:
        ax.bar(x + width / 2, np.nan_to_num(np.asarray(dice, dtype=float)), width, label="Dice", color="lightgray",
               edgecolor="gray")
        ax.legend(loc="upper right", fontsize=8, ncol=2)
    for i, v in enumerate(iou):
        ax.text(i - shift, 0.02 if np.isnan(v) else v + 0.01, "absent" if np.isnan(v) else f"{v:.3f}", ha="center",
                va="bottom", fontsize=8, rotation=90 if np.isnan(v) else 0)
    ax.set_xticks(x, names, rotation=30 if len(names) > 5 else 0, ha="right" if len(names) > 5 else "center")
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("IoU")
    present = iou[~np.isnan(iou)]
    ax.set_title(f"{title} (mean {present.mean():.3f})" if present.size else title)
    return fig


def save_mask_png(mask: np.ndarray, path, k: int) -> None:
    """A palette PNG whose pixel values are the class ids (0..k-1) and whose palette shows them in colour."""
    from PIL import Image

    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    pal = np.zeros((256, 3), dtype=np.uint8)
    pal[:k] = colours(k)
    pal[255] = IGNORED
    img.putpalette(pal.reshape(-1).tolist())
    img.save(path)
