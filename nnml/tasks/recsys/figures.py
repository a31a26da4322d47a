"""Figures of a recommender run: ranking metrics against k, and the popularity of recommended items against the
popularity of the items users actually went on to interact with (a popularity-biased model recommends the head
of the catalogue much more often than users pick it)."""

from __future__ import annotations

import numpy as np


def metrics_vs_k(curves: dict[str, list[float]], ks: list[int], title: str):
    """One line per metric (precision, recall, map, ndcg, hit_rate, coverage) over k."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(ks, values, marker="o" if len(ks) <= 20 else None, ms=3, label=name)
    ax.set_xlabel("k (length of the recommended list)")
    ax.set_ylabel("value on the test split")
    ax.set_title(title)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def popularity(train_counts: np.ndarray, recommended: np.ndarray, held_out: np.ndarray, k: int):
    """Share of recommended and of held-out interactions by the item's popularity rank in training (0 = most
    popular), in ten equal bins of the catalogue ordered by popularity."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    order = np.argsort(-train_counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    bins = np.linspace(0, len(order), 11)
    rec_h = np.histogram(rank[recommended], bins=bins)[0]
    held_h = np.histogram(rank[held_out], bins=bins)[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(10)
    ax.bar(x - 0.2, rec_h / max(rec_h.sum(), 1), width=0.4, label=f"recommended (top {k})")
    ax.bar(x + 0.2, held_h / max(held_h.sum(), 1), width=0.4, label="held out (test)")
    ax.set_xticks(x, [f"{i * 10}-{i * 10 + 10}%" for i in range(10)], rotation=45, fontsize=7)
    ax.set_xlabel("item popularity in training (most popular tenth of the catalogue first)")
    ax.set_ylabel("share of items")
    ax.legend()
    fig.tight_layout()
    return fig
