"""Lab ``uat``: the universal approximation theorem, measured: error of one hidden sigmoid layer against its width.

Cybenko (1989): sums sum_j a_j s(w_j x + b_j) of a continuous sigmoidal s are dense in the
continuous functions on [0, 1] in the sup norm. The theorem says such a sum *exists* for any
tolerance; it bounds neither the width nor what training finds. So the lab offers two methods:

- ``lstsq`` (default): hidden weights fixed at random (slopes of random sign and size in
  ``slope``, centres uniform in [0, 1]), output layer solved exactly by least squares. This shows
  what a width can represent, free of optimisation luck.
- ``train``: every weight trained with Adam from the same kind of start; the best of ``restarts``
  runs (by training loss) is reported, since trained nets do not improve monotonically with width.

A continuous target's sup error falls towards 0 with width; the step target is not continuous, so
its sup error stays near half the jump (0.5) at every width while its L2 error still falls.

    nnml lab uat target=step method=train
"""

from __future__ import annotations

import math
import pathlib

import torch

from nnml.lab.report import LabOutput, check_choice, checked, options, rich_table

TARGETS = {
    "sin": ("sin(2 pi x)", lambda x: torch.sin(2 * math.pi * x)),
    "abs": ("|x - 0.5|", lambda x: (x - 0.5).abs()),
    "step": ("1 if x >= 0.5 else 0", lambda x: (x >= 0.5).to(x.dtype)),
    "polynomial": ("16 x (x - 0.5) (x - 1)", lambda x: 16 * x * (x - 0.5) * (x - 1)),
}
CONTINUOUS = {"sin", "abs", "polynomial"}
METHODS = ("lstsq", "train")

DEFAULTS = {
    "target": "sin",
    "widths": [1, 2, 4, 8, 16, 32, 64, 128, 256],
    "method": "lstsq",
    "seed": 0,
    "slope": [5.0, 50.0],  # range of |w_j| for the random hidden units
    "train_points": 512,  # fit on these, evenly spaced in [0, 1]
    "eval_points": 2001,  # sup and L2 errors on this finer grid, so that errors between points count
    "restarts": 2,  # method=train: best of this many runs
    "train_steps": 1000,  # method=train: full-batch Adam steps on every 4th training point
    "lr": 0.01,  # method=train
}


def random_hidden(width: int, slope, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Slopes w (random sign, |w| uniform in slope) and biases b = -w c for centres c uniform in [0, 1]."""
    lo, hi = slope
    w = (lo + (hi - lo) * torch.rand(width, generator=generator, dtype=torch.float64))
    w = w * torch.where(torch.rand(width, generator=generator, dtype=torch.float64) < 0.5, -1.0, 1.0)
    centres = torch.rand(width, generator=generator, dtype=torch.float64)
    return w, -w * centres


def fit_lstsq(x, y, width, slope, generator):
    """The prediction function of the least-squares output layer on fixed random sigmoids."""
    w, b = random_hidden(width, slope, generator)

    def features(t):
        return torch.cat([torch.sigmoid(t * w + b), torch.ones_like(t)], dim=1)  # last column: output bias

    a = torch.linalg.lstsq(features(x), y, driver="gelsd").solution
    return lambda t: features(t) @ a


def fit_train(x, y, width, slope, generator, steps, lr):
    """The prediction function of a fully trained one-hidden-layer sigmoid net (Adam, MSE, full batch).

    Training runs in float32: float64 exp is several times slower on CPUs and gains nothing here.
    """
    x, y = x.float(), y.float()
    w, b = (p.float().unsqueeze(0).requires_grad_(True) for p in random_hidden(width, slope, generator))
    a = (torch.randn(width, 1, generator=generator) / math.sqrt(width)).requires_grad_(True)
    c = torch.zeros(1, requires_grad=True)

    def predict(t):
        return torch.sigmoid(t * w + b) @ a + c

    opt = torch.optim.Adam([w, b, a, c], lr=lr)
    # Saturated sigmoids produce subnormal floats, which x86 CPUs handle ~100x slower (55 ms instead
    # of 0.7 ms a step at width 256); flushing them to zero changes nothing visible in the fit.
    torch.set_flush_denormal(True)
    try:
        for _ in range(steps):
            opt.zero_grad()
            loss = ((predict(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
    finally:
        torch.set_flush_denormal(False)
    with torch.no_grad():
        final = ((predict(x) - y) ** 2).mean().item()
    return (lambda t: predict(t.float()).detach().double()), final


def run(cfg, out_dir: pathlib.Path):
    opts = checked("uat", options("uat", cfg, DEFAULTS), {
        "widths": "pos_ints", "seed": "int", "slope": "pos_floats2", "train_points": "pos_int2", "eval_points": "pos_int2",
        "restarts": "pos_int", "train_steps": "pos_int", "lr": "pos_float"})
    check_choice("target", opts["target"], TARGETS)
    check_choice("method", opts["method"], METHODS)
    widths = [int(w) for w in opts["widths"]]
    formula, target = TARGETS[opts["target"]]
    x = torch.linspace(0, 1, int(opts["train_points"]), dtype=torch.float64).unsqueeze(1)
    xe = torch.linspace(0, 1, int(opts["eval_points"]), dtype=torch.float64).unsqueeze(1)
    y = target(x)
    slope = [float(s) for s in opts["slope"]]

    rows, fits = [], {}
    for width in widths:
        g = torch.Generator().manual_seed(int(opts["seed"]) * 1000 + width)
        if opts["method"] == "lstsq":
            predict = fit_lstsq(x, y, width, slope, g)
        else:
            # every 4th point: a quarter of the cost, and still far more points than parameters
            runs = [fit_train(x[::4], y[::4], width, slope, g, int(opts["train_steps"]), float(opts["lr"]))
                    for _ in range(int(opts["restarts"]))]
            predict = min(runs, key=lambda r: r[1])[0]
        with torch.no_grad():
            fit = predict(xe)
            err = fit - target(xe)
        fits[width] = fit.squeeze(1)
        rows.append({"width": width, "sup error": err.abs().max().item(),
                     "L2 error": err.pow(2).mean().sqrt().item()})  # RMS over [0, 1] = L2 norm on [0, 1]

    method_text = ("least squares on fixed random sigmoids" if opts["method"] == "lstsq"
                   else f"trained with Adam, best of {opts['restarts']} runs")
    with LabOutput(out_dir) as out:
        out.csv(f"uat_{opts['target']}_{opts['method']}", rows)
        out.figure(_fits_figure(xe, target(xe), fits, formula, method_text), f"uat_fits_{opts['target']}")
        out.figure(_error_figure(rows, formula, method_text), f"uat_error_{opts['target']}")
    continuous = opts["target"] in CONTINUOUS
    verdict = ("continuous target: Cybenko's theorem says the sup error can be made as small as wanted"
               if continuous else
               "discontinuous target: outside Cybenko's theorem; a continuous fit keeps a sup error near "
               "half the jump (0.5), while the L2 error still falls")
    numbers = {
        "target": opts["target"], "method": opts["method"], "method_description": method_text,
        "continuous": continuous, "widths": widths,
        "sup_error": [r["sup error"] for r in rows], "l2_error": [r["L2 error"] for r in rows],
        "files": out.files,
    }
    caption = f"method: {method_text}. {verdict}. Existence only: nothing here says training will find it."
    return numbers, rich_table(f"Universal approximation of {formula} by one hidden sigmoid layer", rows, caption)


def _fits_figure(xe, truth, fits, formula, method_text):
    import matplotlib.pyplot as plt

    widths = list(fits)
    shown = sorted({widths[round(i * (len(widths) - 1) / 3)] for i in range(4)}) if len(widths) > 4 else widths
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xe.squeeze(1), truth.squeeze(1), "k", lw=2.5, alpha=0.4, label=f"target {formula}")
    for width in shown:
        ax.plot(xe.squeeze(1), fits[width], lw=1, label=f"width {width}")
    ax.set_title(f"Fits ({method_text})", fontsize=9)
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _error_figure(rows, formula, method_text):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    widths = [r["width"] for r in rows]
    ax.plot(widths, [max(r["sup error"], 1e-16) for r in rows], "o-", label="sup error")
    ax.plot(widths, [max(r["L2 error"], 1e-16) for r in rows], "s-", label="L2 error")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("hidden width N")
    ax.set_title(f"{formula}: error vs width ({method_text})", fontsize=9)
    ax.legend()
    fig.tight_layout()
    return fig
