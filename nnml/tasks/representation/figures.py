"""Pictures of a representation: a 2-D PCA or t-SNE scatter coloured by label, and sprite images for
TensorBoard's projector (images only)."""

from __future__ import annotations

import torch


def project_2d(z: torch.Tensor, method: str = "pca", seed: int = 0) -> torch.Tensor:
    """(N, 2) coordinates: the first two principal components of the standardized embeddings, or t-SNE."""
    z = z.double()
    z = (z - z.mean(0)) / z.std(0).clamp_min(1e-8)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (len(z) - 1) // 3)))
        return torch.from_numpy(TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z.numpy()))
    _, _, v = torch.linalg.svd(z, full_matrices=False)
    return z @ v[:2].T


def embedding_figure(z: torch.Tensor, y, method: str, title: str, class_names=()):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy = project_2d(z, method).numpy()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if y is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7)
    else:
        y = y.cpu().numpy()
        cmap = plt.get_cmap("tab10" if y.max() < 10 else "tab20")
        for c in sorted(set(y.tolist())):
            m = y == c
            name = class_names[c] if class_names and c < len(class_names) else str(c)
            ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.75, color=cmap(c % cmap.N), label=name)
        ax.legend(markerscale=2.5, fontsize=7, loc="best", ncol=2, frameon=False)
    ax.set_title(f"{title} ({'t-SNE' if method == 'tsne' else 'PCA'})", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def sprite_images(x: torch.Tensor):
    """(N, C, H, W) images scaled to [0, 1] per image for the projector's sprite; None for other data."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        return None
    flat = x.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    return ((x - lo) / (hi - lo).clamp_min(1e-8)).float().cpu()
