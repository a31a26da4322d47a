"""Lab ``activations``: the catalogue as the lecture-notes table, and each function drawn with its derivative.

``nnml lab activations`` prints name, formula, derivative, range and use for every entry, and checks
each hand-written derivative against autograd through torch's own module (float64) on the plotted
grid. binary_step is the exception: its module trains with a straight-through gradient on purpose,
so its true derivative (zero) is not compared.
"""

from __future__ import annotations

import math
import pathlib

import torch

from nnml.errors import NnmlError
from nnml.lab.report import LabOutput, check_choices, checked, options, rich_table
from nnml.models.activations import CATALOGUE, NAMES

DEFAULTS = {
    "names": None,  # null: every catalogue entry
    "xmin": -4.0,
    "xmax": 4.0,
    "points": 801,
}


def derivative_gap(name: str, x: torch.Tensor) -> float | None:
    """max |hand-written f'(x) - autograd through torch's module| on x, or None for binary_step."""
    if name == "binary_step":
        return None
    x = x.detach().to(torch.float64).clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(CATALOGUE[name].module().double()(x).sum(), x)
    return (CATALOGUE[name].grad(x.detach()) - auto).abs().max().item()


def _figure(names, x):
    import matplotlib.pyplot as plt

    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        entry = CATALOGUE[name]
        ax.plot(x, entry.fn(x), label="f(x)")
        ax.plot(x, entry.grad(x), "--", label="f'(x)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(name, fontsize=10)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Activation functions (solid) and their hand-written derivatives (dashed)")
    fig.tight_layout()
    return fig


def run(cfg, out_dir: pathlib.Path):
    opts = checked("activations", options("activations", cfg, DEFAULTS),
                   {"xmin": "float", "xmax": "float", "points": "pos_int2"})
    if opts["xmin"] >= opts["xmax"]:
        raise NnmlError(f"xmin={opts['xmin']:g} must be below xmax={opts['xmax']:g} in lab activations")
    names = check_choices("names", opts["names"], NAMES) if opts["names"] is not None else list(NAMES)
    x = torch.linspace(float(opts["xmin"]), float(opts["xmax"]), int(opts["points"]), dtype=torch.float64)
    rows, gaps = [], {}
    for name in names:
        entry = CATALOGUE[name]
        gaps[name] = derivative_gap(name, x)
        rows.append({
            "name": name, "formula": entry.formula, "derivative": entry.derivative, "range": entry.range,
            "use": entry.use, "max |f' - autograd|": gaps[name] if gaps[name] is not None else "n/a (STE)",
        })
    with LabOutput(out_dir) as out:
        out.csv("activations", rows)
        out.figure(_figure(names, x), "activations")
    numbers = {
        "count": len(names),
        "max_derivative_gap": max(g for g in gaps.values() if g is not None),
        "derivative_gap": gaps,
        "files": out.files,
    }
    caption = "derivatives written by hand, checked against torch.autograd through torch's modules (float64)"
    return numbers, rich_table("Activation functions", rows, caption)
