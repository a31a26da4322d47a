"""Figures and tables for text tasks: attention heatmaps, markdown tables of examples, a tag confusion matrix."""

from __future__ import annotations


def _md(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A markdown table (TensorBoard renders it in the Text tab)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def attention_heatmap(weights, src_tokens: list[str], hyp_tokens: list[str], title: str = ""):
    """One pair's attention (target step x source token) as a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    w = weights[: len(hyp_tokens), : len(src_tokens)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * max(len(src_tokens), 4), 1.0 + 0.4 * max(len(hyp_tokens), 3)))
    ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src_tokens)), src_tokens, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(hyp_tokens)), hyp_tokens, fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def confusion_figure(matrix, names: list[str], title: str = "tag confusion (rows: gold, columns: predicted)"):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * len(names), 1.2 + 0.5 * len(names)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
