"""``nnml compare PATH...``: the runs under some folders side by side, best first, with only the hyperparameters
that differ between them as columns; optionally their learning curves in one picture, read from their TensorBoard
event files (``train/loss`` and the validation metric against the ``epoch`` scalar).
"""

from __future__ import annotations

from pathlib import Path

from nnml.errors import NnmlError, bad_choice
from nnml.sweep import runs as R

FORMATS = ("csv", "json", "markdown", "table")


def compare(paths, metrics=None, sort: str = "auto", show_all: bool = False) -> dict:
    """The runs under ``paths`` ranked by the first metric: ``{rows, runs, hparams, metrics}``. Without
    ``show_all`` failed and unfinished runs are kept apart (their rows follow, status not ok)."""
    if sort not in ("auto", "asc", "desc"):
        raise bad_choice("--sort", sort, ("asc", "auto", "desc"))
    runs = R.load_runs(list(paths) or [Path("outputs")])
    if not runs:
        raise NnmlError(f"no runs under {', '.join(str(p) for p in paths)} (a run folder holds metrics.json or "
                        f".hydra/config.yaml)")
    metrics = list(metrics or []) or R.default_metrics(runs)
    known = sorted({k for r in runs for k in r.metrics if "/" in k})
    for m in metrics:
        if known and m not in known:
            raise bad_choice("--metric", m, known)
    hparams = R.differing_keys(runs)
    table_rows = R.rows(R.rank(runs, metrics[0], sort), hparams, metrics)
    return {"rows": table_rows, "runs": runs, "hparams": hparams, "metrics": metrics}


def finished_rows(table_rows: list[dict]) -> list[dict]:
    """The runs that finished, ranked 1..n (what csv, markdown and json show unless --all)."""
    done = [r for r in table_rows if r["status"] in ("ok", "pruned")]
    return [{**r, "rank": i} for i, r in enumerate(done, 1)]


def formatted(table_rows: list[dict], fmt: str) -> str:
    if fmt not in FORMATS or fmt == "table":
        raise bad_choice("--format", fmt, FORMATS)
    return {"csv": R.to_csv, "markdown": R.to_markdown, "json": R.to_json}[fmt](table_rows)


def read_curves(run_dir: Path, tags) -> dict:
    """``tag -> (epochs, values)`` from a run's event files, one point per epoch (the epoch's last step)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    have = set(acc.Tags().get("scalars", []))
    if "epoch" in have:  # event files from before the epoch curve was dropped
        epoch_at = {e.step: e.value for e in acc.Scalars("epoch")}
    else:  # epoch-end scalars sit at each epoch's last step: train/loss has one per epoch
        ends = sorted({e.step for e in acc.Scalars("train/loss")}) if "train/loss" in have else []
        epoch_at = {s: i + 1 for i, s in enumerate(ends)}
    out = {}
    for tag in tags:
        if tag not in have:
            continue
        pts = {}
        for e in acc.Scalars(tag):  # a resumed run may repeat steps: the last write wins
            pts[e.step] = e.value
        steps = sorted(pts)
        xs = [epoch_at.get(s, i + 1) for i, s in enumerate(steps)]
        out[tag] = (xs, [pts[s] for s in steps])
    return out


# Scalars the loop logs per step, not per epoch (their own points fall between epoch ends).
STEP_TAGS = ("train/step_loss", "train/grad_norm")


def epoch_history(run_dir: Path) -> list[dict]:
    """One dict per epoch from a run's event files, shaped like its metrics.csv rows: ``epoch``, ``step`` and
    every scalar logged at the epoch ends (``train/*``, ``val/*``, ``lr``: the TensorBoard logger files ``lr``
    under ``train/lr``). [] when the run has no event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    have = set(acc.Tags().get("scalars", []))
    if "train/loss" not in have:
        return []
    series = {}
    for tag in have:
        pts = {}
        for e in acc.Scalars(tag):  # a resumed run may repeat steps: the last write wins
            pts[e.step] = e.value
        series[tag] = pts
    ends = sorted(series["train/loss"])
    epochs = ({s: int(series["epoch"][s]) for s in ends if s in series["epoch"]} if "epoch" in series
              else {s: i + 1 for i, s in enumerate(ends)})
    rows = {s: {"epoch": epochs.get(s, i + 1), "step": s} for i, s in enumerate(ends)}
    for tag, pts in sorted(series.items()):
        if tag in STEP_TAGS or tag == "epoch" or tag.startswith("hparam/") or not set(pts) <= set(rows):
            continue
        name = "lr" if tag == "train/lr" else tag
        for step, value in pts.items():
            rows[step][name] = value
    return [rows[s] for s in ends]


def label(run: R.Run, hparams, groups) -> str:
    """The differing hyperparameters, keys shortened to their last part where that stays unambiguous."""
    if not hparams:
        return run.name
    last = [k.split(".")[-1] for k in hparams]
    names = [s if last.count(s) == 1 else k for k, s in zip(hparams, last)]
    return ", ".join(f"{n}={R.fmt(R.value_of(run, k, groups))}" for n, k in zip(names, hparams))


def plot_curves(runs: list[R.Run], hparams, metric: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    val_tag = metric if metric.startswith("val/") else "val/" + metric.split("/", 1)[-1]
    tags = ["train/loss", val_tag]
    groups = {g for r in runs for g in r.choices}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    drawn = 0
    for run in runs:
        curves = read_curves(run.path, tags)
        if not curves:
            continue
        name = label(run, hparams, groups)
        for ax, tag in zip(axes, tags):
            if tag in curves:
                ax.plot(*curves[tag], marker="o", markersize=2.5, linewidth=1.4, label=name)
        drawn += 1
    if not drawn:
        plt.close(fig)
        raise NnmlError("none of the runs has TensorBoard event files with train/loss or "
                        f"{val_tag}; train with logger=tensorboard (the default)")
    for ax, tag in zip(axes, tags):
        ax.set_xlabel("epoch")
        ax.set_ylabel(tag)
        ax.set_title(tag)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if tag.endswith("loss"):
            ax.set_yscale("log")
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    ncol = max(1, min(len(labels), 4 if max(map(len, labels)) < 28 else 2))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    rows = (len(labels) + ncol - 1) // ncol
    fig.tight_layout(rect=(0, min(0.4, 0.06 * rows + 0.02), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
