"""Lab ``trajectories``: optimizers (written from scratch, :mod:`nnml.lab.optim`) walking on 2-D test functions.

Each optimizer starts from the same point and takes ``steps`` steps on the exact gradient (from
autograd: the function is the object of study here, not the gradient). Its path is drawn over
the function's contour plot, and the table gives its end point, final value, distance to the
nearest known minimum and the first step at which that distance fell below ``tol``.

    nnml lab trajectories function=rosenbrock optimizers=[sgd,momentum,adam] lr.adam=0.02

Default learning rates are per function, picked on a log grid (1e-4 ... 1) as rates that behave
well from the default start without being tuned to the last digit; ``lr.NAME=...`` overrides one.
"""

from __future__ import annotations

import math
import pathlib

import torch

from nnml.lab import optim
from nnml.lab.functions2d import FUNCTIONS, Surface
from nnml.lab.report import LabOutput, check_choice, check_choices, checked, finite, options, rich_table

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")

DEFAULT_LR = {
    "rosenbrock": dict(sgd=1e-3, momentum=1e-3, nesterov=1e-3, adagrad=0.3, rmsprop=3e-3, adam=0.05, adamw=0.05),
    "beale": dict(sgd=1e-2, momentum=1e-3, nesterov=1e-3, adagrad=0.3, rmsprop=3e-3, adam=0.03, adamw=0.03),
    "himmelblau": dict(sgd=1e-3, momentum=1e-3, nesterov=1e-3, adagrad=0.3, rmsprop=1e-2, adam=0.03, adamw=0.03),
    "saddle": dict(sgd=1e-2, momentum=1e-3, nesterov=1e-3, adagrad=0.1, rmsprop=3e-3, adam=1e-2, adamw=1e-2),
    # sgd at 0.03 is close to the stability limit 2/50 in y: its zig-zag is the point of this function
    "ill_conditioned": dict(sgd=3e-2, momentum=3e-3, nesterov=3e-3, adagrad=0.3, rmsprop=1e-2, adam=0.03, adamw=0.03),
}

DEFAULTS = {
    "function": "rosenbrock",
    "optimizers": list(OPTIMIZERS),
    "lr": {name: None for name in OPTIMIZERS},  # null: the function's default rate
    "momentum": 0.9,  # for momentum and nesterov
    "start": None,  # [x, y]; null: the function's classic start
    "steps": 2000,
    "tol": 1e-3,  # distance to the nearest minimum counted as arrived
}


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9):
    """The scratch optimizer ``name`` with the other hyperparameters at torch's defaults."""
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name in ("momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov")
    return {"adagrad": optim.Adagrad, "rmsprop": optim.RMSprop, "adam": optim.Adam, "adamw": optim.AdamW}[name](
        params, lr=lr
    )


def descend(surface: Surface, name: str, lr: float, start, steps: int, momentum: float = 0.9) -> torch.Tensor:
    """The path (steps + 1, 2) of optimizer ``name`` from ``start``; it stops early if it diverges."""
    point = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(name, [point], lr, momentum)
    path = [point.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        surface.f(point[0], point[1]).backward()
        opt.step()
        path.append(point.detach().clone())
        if not torch.isfinite(point).all() or point.abs().max() > 1e6:
            break
    return torch.stack(path)


def _distances(surface: Surface, path: torch.Tensor) -> torch.Tensor:
    minima = torch.tensor(surface.minima, dtype=torch.float64)
    return torch.cdist(path, minima).min(dim=1).values


def run(cfg, out_dir: pathlib.Path):
    opts = checked("trajectories", options("trajectories", cfg, DEFAULTS),
                   {"momentum": "unit_float", "start": "floats2", "steps": "pos_int", "tol": "pos_float"},
                   nullable=("start",))
    check_choice("function", opts["function"], FUNCTIONS)
    names = check_choices("optimizers", opts["optimizers"], OPTIMIZERS)
    for key in opts["lr"]:
        check_choice("lr", key, OPTIMIZERS)
        checked("trajectories", {f"lr.{key}": opts["lr"][key]}, {f"lr.{key}": "pos_float"}, nullable=(f"lr.{key}",))
    surface = FUNCTIONS[opts["function"]]
    start = tuple(float(v) for v in (opts["start"] if opts["start"] is not None else surface.start))
    steps, tol = int(opts["steps"]), float(opts["tol"])

    rows, paths, curves = [], {}, {}
    for name in names:
        lr = float(opts["lr"].get(name) or DEFAULT_LR[surface.name][name])
        path = descend(surface, name, lr, start, steps, float(opts["momentum"]))
        end = path[-1]
        dist = _distances(surface, path)
        arrived = torch.nonzero(dist < tol)
        diverged = len(path) < steps + 1 or not torch.isfinite(end).all()
        value = surface.f(end[0], end[1]).item()
        nearest = min(surface.minima, key=lambda m: math.dist(m, end.tolist()) if not diverged else 0)
        paths[name], curves[name] = path, dist
        rows.append({
            "optimizer": name, "lr": lr, "end x": end[0].item(), "end y": end[1].item(), "f(end)": value,
            "nearest minimum": f"({nearest[0]:g}, {nearest[1]:g})", "distance": dist[-1].item(),
            f"steps to {tol:g}": int(arrived[0]) if len(arrived) else None, "diverged": diverged,
        })

    with LabOutput(out_dir) as out:
        out.csv(f"trajectories_{surface.name}", rows)
        out.figure(_contour_figure(surface, paths, start), f"trajectories_{surface.name}")
        out.figure(_distance_figure(surface, curves, tol), f"distance_{surface.name}")
    numbers = {
        "function": surface.name, "start": list(start), "steps": steps, "tol": tol,
        "optimizers": {
            r["optimizer"]: {
                "lr": r["lr"], "end": [finite(r["end x"]), finite(r["end y"])], "value": finite(r["f(end)"]),
                "distance": finite(r["distance"]), "steps_to_tol": r[f"steps to {tol:g}"], "diverged": r["diverged"],
            }
            for r in rows
        },
        "files": out.files,
    }
    caption = f"f = {surface.formula}; start {start}; {steps} steps; {surface.lesson}"
    return numbers, rich_table(f"Optimizer trajectories on {surface.name}", rows, caption)


def _contour_figure(surface: Surface, paths, start):
    import matplotlib.pyplot as plt
    import numpy as np

    xs = torch.linspace(*surface.xlim, 300, dtype=torch.float64)
    ys = torch.linspace(*surface.ylim, 300, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    z = surface.f(gx, gy)
    # log-spaced levels show both the valley floor and the walls; shifted so every level is positive
    shifted = (z - z.min() + 1e-3).numpy()
    levels = np.logspace(np.log10(shifted.min()), np.log10(shifted.max()), 30)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.contour(gx.numpy(), gy.numpy(), shifted, levels=levels, colors="0.7", linewidths=0.6)
    # Paths often coincide for their first steps (sgd under adam): the earlier ones are drawn thicker and
    # fainter underneath, the later ones thinner, dashed and with their own markers on top, so that each stays visible.
    styles = ["-", "--", "-.", ":"]
    markers = ["o", "s", "^", "v", "D", "x", "+", "*"]
    n = len(paths)
    for i, (name, path) in enumerate(paths.items()):
        p = path[torch.isfinite(path).all(dim=1)].numpy()
        ax.plot(p[:, 0], p[:, 1], lw=1.0 + 2.5 * (n - 1 - i) / max(n - 1, 1), alpha=0.55 + 0.4 * i / max(n - 1, 1),
                ls=styles[i % len(styles)], marker=markers[i % len(markers)], markersize=4,
                markevery=max(len(p) // 12, 1), label=name, zorder=2 + i)
    ax.plot(*start, "ko", label="start")
    mins = np.array(surface.minima)
    ax.plot(mins[:, 0], mins[:, 1], "r*", markersize=12, label="minima")
    ax.set_xlim(surface.xlim)
    ax.set_ylim(surface.ylim)
    ax.set_title(f"{surface.name}: {surface.formula}", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _distance_figure(surface: Surface, curves, tol):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, dist in curves.items():
        ax.plot(dist.clamp(min=1e-16).numpy(), label=name)
    ax.axhline(tol, color="red", ls="--", lw=0.8, label=f"tol {tol:g}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("distance to nearest minimum")
    ax.set_title(surface.name)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
