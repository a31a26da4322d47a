"""Lab ``regularization``: which regularizer closed the train/val gap, and by how much.

It reads a finished sweep of ``nnml train -m experiment=regularization`` (one job per option of
``configs/regularizer/``, the same model on a small training subset). For every job it measures the train accuracy
again on the best weights, in eval mode and without augmentation (the ``train/acc`` a run logs comes from its last
epoch's augmented, dropped-out batches, which is no measure of how well the model fits), and puts it beside the
val and test accuracy. The gap is train minus val; "closed" is the baseline's gap minus the job's, and "val gain"
the change of val accuracy against the baseline: a method that closes the gap only by fitting the training data
worse shows a closed gap and no val gain. Figures: the learning curves of every job in one PNG (``metrics.csv``
of each job), and the histograms of the first layer's weights of the baseline, L2, AdamW and L1 jobs.

    nnml train -m experiment=regularization
    nnml lab regularization                                   # the newest sweep under outputs/regularization
    nnml lab regularization sweep=outputs/regularization/multiruns/2026-01-01_12-00-00
"""

from __future__ import annotations

import csv
import math
import pathlib

from nnml.errors import NnmlError
from nnml.lab.report import LabOutput, options, rich_table

DEFAULTS = {
    "sweep": None,  # a sweep folder; null: the newest under outputs/regularization/multiruns
    "baseline": "none",  # the regularizer option the others are compared with
    "clean_train": True,  # re-measure train accuracy on the best weights (eval mode, no augmentation)
    "histograms": ["none", "l2", "adamw", "l1"],  # jobs whose first-layer weights are drawn
    "device": "cpu",
}
SWEEPS = pathlib.Path("outputs/regularization/multiruns")


def newest_sweep(root: pathlib.Path = SWEEPS) -> pathlib.Path:
    found = sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
    if not found:
        raise NnmlError(f"sweep=null found no sweep under {root}; run nnml train -m experiment=regularization "
                        "first, or give sweep=FOLDER")
    return found[-1]


def method_of(run) -> str:
    for ov in run.overrides:
        key, _, value = ov.lstrip("+").partition("=")
        if key == "regularizer":
            return value
    return run.choices.get("regularizer") or run.name


def _curves(run_dir: pathlib.Path) -> dict[str, list[float]]:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, list[float]] = {}
    for key in ("epoch", "train/acc", "val/acc", "train/loss", "val/loss"):
        out[key] = [float(r[key]) if r.get(key) not in (None, "") else math.nan for r in rows]
    return out


def _first_layer(run_dir: pathlib.Path):
    """The first weight matrix of the run's best checkpoint (flattened), or None."""
    import torch

    from nnml.config.runfolder import RunFolder

    try:
        ckpt = torch.load(RunFolder(run_dir).checkpoint("best"), map_location="cpu", weights_only=True)
    except Exception:
        return None
    state = ckpt.get("model") or (ckpt.get("modules") or {}).get("model") or {}
    for _name, tensor in state.items():
        if getattr(tensor, "dim", lambda: 0)() >= 2:
            return tensor.detach().flatten().float()
    return None


def _clean_train_acc(run_dir: pathlib.Path, device: str) -> float | None:
    from nnml.run.restore import restore_run

    try:
        restored = restore_run(run_dir, "best", device=device)
        return float(restored.evaluate("train").get("acc"))
    except Exception:
        return None


def run(cfg, out_dir: pathlib.Path):
    opts = options("regularization", cfg, DEFAULTS)
    if not isinstance(opts["clean_train"], bool):
        raise NnmlError(f"clean_train={opts['clean_train']} is not valid for lab regularization; expected true or false")
    if isinstance(opts["histograms"], str):
        opts["histograms"] = [opts["histograms"]]
    sweep = pathlib.Path(opts["sweep"]) if opts["sweep"] else newest_sweep()
    if not sweep.is_dir():
        raise NnmlError(f"sweep={sweep} is not a folder; give the sweep folder of nnml train -m "
                        "experiment=regularization (outputs/regularization/multiruns/<time>)")
    from nnml.sweep.runs import load_runs

    runs = [r for r in load_runs([sweep]) if r.status == "ok"]
    if not runs:
        raise NnmlError(f"sweep={sweep} holds no finished run (no metrics.json); is it a sweep folder?")
    jobs = []
    for r in runs:
        train_acc = _clean_train_acc(r.path, opts["device"]) if opts["clean_train"] else None
        if train_acc is None and "train/acc" not in r.metrics:
            raise NnmlError(f"run {r.path} reports no train/acc (it trained with trainer.train_metrics=false)"
                            + (" and its best weights could not be evaluated on the train split" if opts["clean_train"]
                               else "; use clean_train=true to measure it on the best weights"))
        if train_acc is None:
            train_acc = float(r.metrics["train/acc"])
        val, test = float(r.metrics.get("val/acc", math.nan)), float(r.metrics.get("test/acc", math.nan))
        jobs.append({"method": method_of(r), "path": r.path, "train": train_acc, "val": val, "test": test,
                     "epochs": r.metrics.get("epochs")})
    names = [j["method"] for j in jobs]
    base = next((j for j in jobs if j["method"] == opts["baseline"]), None)
    if base is None:
        raise NnmlError(f"baseline={opts['baseline']} is not a job of {sweep}; choose one of: {', '.join(names)}")
    base_gap = base["train"] - base["val"]
    rows = []
    for j in sorted(jobs, key=lambda j: -j["val"]):
        gap = j["train"] - j["val"]
        rows.append({"method": j["method"], "train acc": j["train"], "val acc": j["val"], "test acc": j["test"],
                     "gap (train-val)": gap, "gap closed": base_gap - gap, "val gain": j["val"] - base["val"],
                     "epochs": j["epochs"]})
    others = [r for r in rows if r["method"] != opts["baseline"]]
    closer = max(others, key=lambda r: r["gap closed"]) if others else None
    best = max(others, key=lambda r: r["val acc"]) if others else None

    with LabOutput(out_dir) as out:
        out.csv("regularization", rows)
        out.figure(curves_figure(jobs), "learning_curves")
        hist = histogram_figure(jobs, opts["histograms"])
        if hist is not None:
            out.figure(hist, "weight_histograms")
        files = list(out.files)
    caption = (f"baseline {opts['baseline']}: train {base['train']:.3f}, val {base['val']:.3f}, gap "
               f"{100 * base_gap:.1f} points.")
    if closer is not None:
        caption += (f" Closed the gap most: {closer['method']} ({100 * base_gap:.1f} -> "
                    f"{100 * closer['gap (train-val)']:.1f} points, val {100 * closer['val gain']:+.1f}).")
        caption += (f" Best val accuracy: {best['method']} ({best['val acc']:.3f}, {100 * best['val gain']:+.1f} "
                    "points over the baseline).")
    numbers = {"sweep": str(sweep), "baseline": opts["baseline"], "baseline_gap": base_gap,
               "rows": [{k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in r.items()}
                        for r in rows],
               "closed_most": closer["method"] if closer else None, "best_val": best["method"] if best else None,
               "files": files}
    return numbers, rich_table(f"Regularizers against {opts['baseline']} ({sweep.name})", rows, caption)


def curves_figure(jobs):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    cmap = plt.get_cmap("tab20")
    for i, j in enumerate(sorted(jobs, key=lambda j: j["method"])):
        c = _curves(j["path"])
        if not c:
            continue
        style = dict(color=cmap(i % 20), lw=2.2 if j["method"] == "none" else 1.2,
                     ls="-" if j["method"] == "none" else ["-", "--", ":", "-."][i % 4])
        axes[0].plot(c["epoch"], c["train/acc"], label=j["method"], **style)
        axes[1].plot(c["epoch"], c["val/acc"], label=j["method"], **style)
        axes[2].plot(c["epoch"], c["val/loss"], label=j["method"], **style)
    for ax, title in zip(axes, ("train accuracy (training batches)", "val accuracy", "val loss")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[2].set_yscale("log")
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle("Learning curves of every job of the sweep")
    fig.tight_layout()
    return fig


def histogram_figure(jobs, methods):
    import matplotlib.pyplot as plt

    chosen = [(m, _first_layer(j["path"])) for m in methods for j in jobs if j["method"] == m]
    chosen = [(m, w) for m, w in chosen if w is not None]
    if not chosen:
        return None
    fig, axes = plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 3.8), sharex=True)
    axes = [axes] if len(chosen) == 1 else list(axes)
    lim = max(float(w.abs().max()) for _, w in chosen)
    for ax, (m, w) in zip(axes, chosen):
        small = float((w.abs() < 1e-3).float().mean())
        ax.hist(w.numpy(), bins=81, range=(-lim, lim), color="tab:blue")
        ax.set_yscale("log")
        ax.set_title(f"{m}: |w| < 1e-3 for {100 * small:.0f}%\nmean |w| {float(w.abs().mean()):.3f}", fontsize=10)
        ax.set_xlabel("first-layer weight")
    fig.suptitle("What L1 and L2 do to the weights: L2/AdamW shrink all of them, L1 sets many to exactly 0")
    fig.tight_layout()
    return fig
