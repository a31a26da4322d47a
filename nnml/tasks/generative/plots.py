"""Pictures of generative models for the trackers: image grids (CHW tensors in [0, 1]), 2-D sample densities over
the data, latent scatters coloured by class, class histograms (matplotlib figures)."""

from __future__ import annotations

import math

import torch


def to_unit(x: torch.Tensor, value_range=None) -> torch.Tensor:
    """Images into [0, 1] for display: by the data's range when it has one, else by the batch's own min and max."""
    x = x.detach().float().cpu()
    if value_range is not None:
        lo, hi = float(value_range[0]), float(value_range[1])
    else:
        lo, hi = float(x.min()), float(x.max())
    return ((x - lo) / max(hi - lo, 1e-8)).clamp(0, 1)


def image_grid(images: torch.Tensor, nrow: int | None = None, value_range=None, pad: int = 1,
               min_side: int = 32) -> torch.Tensor:
    """N x C x H x W -> one C x H' x W' image with ``nrow`` images a row (default: a square), a pad of 1 between;
    images smaller than ``min_side`` are enlarged by an integer factor (pixels as blocks: 8x8 digits are tiny).
    Samples that are not images (N x C x L signals, N x D feature rows) are drawn as one strip of pixels each."""
    x = to_unit(images, value_range)
    if x.dim() == 2:
        x = x[:, None, None, :]
    elif x.dim() == 3:
        x = x[:, :, None, :]
    n, c, h, w = x.shape
    if c not in (1, 3):  # channels that are not grey or RGB: side by side, as grey
        x, c, w = x.permute(0, 2, 1, 3).reshape(n, 1, h, c * w), 1, c * w
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = x[i]
    scale = max(1, min(-(-min_side // min(h, w)), 256 // w))
    return grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2) if scale > 1 else grid


def save_image(img: torch.Tensor, path) -> None:
    """A CHW grid in [0, 1] as a PNG."""
    import matplotlib.pyplot as plt

    arr = img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()
    plt.imsave(str(path), arr, cmap="gray" if img.shape[0] == 1 else None, vmin=0, vmax=1)


def density_figure(real: torch.Tensor, fake: torch.Tensor, modes=None, std: float | None = None, title: str = ""):
    """Generated 2-D points as a density (hexbin) over the data's points, with the 3-std circles of the modes."""
    import matplotlib.pyplot as plt

    real, fake = real.detach().float().cpu(), fake.detach().float().cpu()
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
    lo = torch.minimum(real.min(0).values, real.quantile(0.001, 0)) - 0.5
    hi = torch.maximum(real.max(0).values, real.quantile(0.999, 0)) + 0.5
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    axes[0].scatter(real[:, 0], real[:, 1], s=2, alpha=0.3, color="tab:blue")
    axes[0].set_title("data")
    axes[1].hexbin(fake[:, 0].clamp(extent[0], extent[1]), fake[:, 1].clamp(extent[2], extent[3]), gridsize=60,
                   extent=extent, bins="log", cmap="viridis", mincnt=1)
    axes[1].set_title(title or "samples (log density)")
    for ax in axes:
        if modes is not None and std:
            for cx, cy in modes:
                ax.add_patch(plt.Circle((cx, cy), 3 * std, fill=False, color="tab:red", lw=0.8))
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def latent_scatter(z: torch.Tensor, labels: torch.Tensor, class_names=None, title: str = "latent means"):
    """2-D latent codes coloured by class; codes of more dimensions are projected on their first two principal
    components (said in the title)."""
    import matplotlib.pyplot as plt

    z = z.detach().double().cpu()
    if z.shape[1] > 2:
        zc = z - z.mean(0)
        _, _, v = torch.linalg.svd(zc, full_matrices=False)
        z = zc @ v[:2].T
        title += f" (first 2 principal components of {v.shape[1]})"
    fig, ax = plt.subplots(figsize=(5, 5))
    sc = ax.scatter(z[:, 0], z[:, 1], c=labels.cpu().numpy(), cmap="tab10", s=6)
    if class_names:
        handles = [plt.Line2D([], [], marker="o", ls="", color=sc.cmap(sc.norm(i))) for i in range(len(class_names))]
        ax.legend(handles, class_names, fontsize=7, loc="best", markerscale=0.8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def histogram_figure(hist: torch.Tensor, class_names=None, title: str = "class histogram of samples"):
    import matplotlib.pyplot as plt

    k = len(hist)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(range(k), hist.numpy())
    ax.axhline(1 / k, color="tab:red", lw=0.8, ls="--", label="uniform")
    ax.set_xticks(range(k), class_names or [str(i) for i in range(k)])
    ax.set_ylabel("share of samples")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
