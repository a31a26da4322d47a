"""Lab ``collapse``: without activations, a deep network is one linear map.

Part 1, algebra: two ``nn.Linear`` layers y = W2 (W1 x + b1) + b2 merge into one with W = W2 W1,
b = W2 b1 + b2; their outputs agree to float32 rounding. With a bottleneck of width k the merged
W has rank k: depth adds no expressive power, only a rank limit (and a parameter count).

Part 2, learning: on a non-linear 2-D data set, a deep stack of linear layers, a single linear
layer and an MLP (same stack with ReLU) are trained the same way; the two linear models draw the
same kind of straight decision boundary and reach about the same accuracy, the MLP far more.

    nnml lab collapse data=circles depth=6
"""

from __future__ import annotations

import pathlib

import torch
from torch import nn

from nnml.lab.report import LabOutput, check_choice, checked, options, rich_table

DATASETS = ("moons", "circles")

DEFAULTS = {
    "width": 16,  # input and output size of the two-layer algebra check
    "bottleneck": 3,  # hidden width k of that check: the merged matrix has rank k
    "data": "moons",  # named data, not dataset: dataset= is the training config group
    "samples": 600,
    "noise": 0.15,
    "depth": 4,  # hidden layers of the deep linear model and of the MLP
    "hidden": 32,
    "steps": 400,  # full-batch Adam steps
    "lr": 0.01,
    "seed": 0,
}


def merge(first: nn.Linear, second: nn.Linear) -> nn.Linear:
    """One Linear equal to second(first(x)): W = W2 W1, b = W2 b1 + b2."""
    merged = nn.Linear(first.in_features, second.out_features)
    with torch.no_grad():
        merged.weight.copy_(second.weight @ first.weight)
        merged.bias.copy_(second.weight @ first.bias + second.bias)
    return merged


def _data(opts):
    from sklearn.datasets import make_circles, make_moons

    n, noise, seed = int(opts["samples"]), float(opts["noise"]), int(opts["seed"])
    if opts["data"] == "moons":
        x, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    else:
        x, y = make_circles(n_samples=n, noise=noise / 2, factor=0.5, random_state=seed)
    x = torch.tensor(x, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0)
    return x, torch.tensor(y)


def _models(depth, hidden):
    def stack(activation):
        layers, size = [], 2
        for _ in range(depth):
            layers += [nn.Linear(size, hidden)] + ([activation()] if activation else [])
            size = hidden
        return nn.Sequential(*layers, nn.Linear(size, 2))

    return {"deep linear": stack(None), "single linear": nn.Linear(2, 2), "mlp (relu)": stack(nn.ReLU)}


def _train(model, x, y, steps, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def run(cfg, out_dir: pathlib.Path):
    opts = checked("collapse", options("collapse", cfg, DEFAULTS), {
        "width": "pos_int", "bottleneck": "pos_int", "samples": "pos_int2", "noise": "nonneg_float", "depth": "pos_int",
        "hidden": "pos_int", "steps": "pos_int", "lr": "pos_float", "seed": "int"})
    check_choice("data", opts["data"], DATASETS)
    torch.manual_seed(int(opts["seed"]))
    d, k = int(opts["width"]), int(opts["bottleneck"])

    first, second = nn.Linear(d, k), nn.Linear(k, d)
    merged = merge(first, second)
    x = torch.randn(256, d)
    with torch.no_grad():
        gap = (second(first(x)) - merged(x)).abs().max().item()
        scale = second(first(x)).abs().max().item()
    rank = int(torch.linalg.matrix_rank(merged.weight.detach()))
    factorized = sum(p.numel() for p in [*first.parameters(), *second.parameters()])
    full = sum(p.numel() for p in merged.parameters())

    data_x, data_y = _data(opts)
    models = _models(int(opts["depth"]), int(opts["hidden"]))
    accuracy = {name: _train(m, data_x, data_y, int(opts["steps"]), float(opts["lr"])) for name, m in models.items()}
    with torch.no_grad():  # the trained deep stack, merged layer by layer, is one 2->2 affine map
        deep_gap = (models["deep linear"](data_x) - _collapse_stack(models["deep linear"])(data_x)).abs().max().item()

    rows = [
        {"check": f"max |two layers - merged| ({d}->{k}->{d}, float32)", "value": gap},
        {"check": "float32 epsilon x output scale", "value": torch.finfo(torch.float32).eps * scale},
        {"check": f"rank of merged W ({d}x{d}, bottleneck {k})", "value": rank},
        {"check": "parameters: two layers (factorized)", "value": factorized},
        {"check": "parameters: one full layer", "value": full},
        {"check": f"max |trained deep linear - its merged 2->2 layer| on {opts['data']}", "value": deep_gap},
    ] + [{"check": f"train accuracy on {opts['data']}: {name}", "value": acc} for name, acc in accuracy.items()]

    with LabOutput(out_dir) as out:
        out.csv("collapse", rows)
        out.figure(_boundaries(models, accuracy, data_x, data_y, opts["data"]), f"collapse_{opts['data']}")
    numbers = {
        "merge_gap": gap, "merge_scale": scale, "merged_rank": rank, "bottleneck": k, "width": d,
        "params_factorized": factorized, "params_full": full, "deep_linear_merge_gap": deep_gap, "dataset": opts["data"],
        "accuracy": accuracy, "files": out.files,
    }
    linear_gap = abs(accuracy["deep linear"] - accuracy["single linear"])
    caption = ("without activations every stack is one affine map: the same kind of straight boundary, "
               f"accuracy {accuracy['deep linear']:.4f} (deep linear) vs {accuracy['single linear']:.4f} (single linear), "
               f"{100 * linear_gap:.1f} points apart; the ReLU MLP bends it and reaches {accuracy['mlp (relu)']:.4f}")
    return numbers, rich_table("Linear layers collapse", rows, caption)


def _collapse_stack(model: nn.Sequential) -> nn.Linear:
    """Merge a stack of Linear layers into one, pairwise, with the same rule as ``merge``."""
    layers = list(model)
    merged = layers[0]
    for layer in layers[1:]:
        merged = merge(merged, layer)
    return merged


def _boundaries(models, accuracy, x, y, dataset):
    import matplotlib.pyplot as plt

    lo, hi = x.min(0).values - 0.5, x.max(0).values + 0.5
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 200), torch.linspace(lo[1], hi[1], 200), indexing="xy")
    grid = torch.stack([gx.flatten(), gy.flatten()], 1)
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4))
    for ax, (name, model) in zip(axes, models.items()):
        with torch.no_grad():
            z = model(grid).argmax(1).reshape(gx.shape)
        ax.contourf(gx.numpy(), gy.numpy(), z.numpy(), alpha=0.3, cmap="coolwarm")
        ax.scatter(x[:, 0], x[:, 1], c=y, s=6, cmap="coolwarm")
        ax.set_title(f"{name}: accuracy {accuracy[name]:.3f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Decision boundaries on {dataset}")
    fig.tight_layout()
    return fig
