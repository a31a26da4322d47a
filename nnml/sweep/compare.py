"""``nnml compare PATH...``: the runs under some folders side by side, best first, with only the hyperparameters
that differ between them as columns (runs that differ only in seed: one row per configuration, from
:mod:`nnml.sweep.groups`); optionally their learning curves in one picture, read from their TensorBoard event files
(``train/loss`` and the validation metric against the epoch), one line per configuration: its mean over seeds with
a 95% band, each line with its own colour, dash and marker.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from nnml.errors import NnmlError, bad_choice
from nnml.sweep import runs as R

FORMATS = ("csv", "json", "markdown", "table")


def compare(paths, metrics=None, sort: str = "auto", show_all: bool = False, per_run: bool = False) -> dict:
    """The runs under ``paths`` ranked by the first metric: ``{rows, runs, hparams, metrics, aggregated}``. Runs
    that differ only in ``seed`` are one configuration: when some configuration has several, the rows are one
    per configuration (mean ± std, 95% interval, status against the best: :mod:`nnml.sweep.groups`) unless
    ``per_run``. Without ``show_all`` failed and unfinished runs are kept apart (their rows follow, status not
    ok)."""
    from nnml.sweep import groups as G

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
    config_cols = G.config_columns(runs)
    groups = G.group(runs, config_cols)
    if G.replicated(groups) and not per_run:
        return {"rows": G.rows(groups, config_cols, metrics, runs, sort), "runs": runs, "hparams": config_cols,
                "metrics": metrics, "aggregated": True, "groups": groups, "failures": G.failures(groups)}
    hparams = R.differing_keys(runs)
    table_rows = R.rows(R.rank(runs, metrics[0], sort), hparams, metrics)
    return {"rows": table_rows, "runs": runs, "hparams": hparams, "metrics": metrics, "aggregated": False,
            "groups": groups}


def finished_rows(table_rows: list[dict]) -> list[dict]:
    """The runs that finished, ranked 1..n (what csv, markdown and json show unless --all)."""
    done = [r for r in table_rows if r["status"] in ("ok", "pruned")]
    return [{**r, "rank": i} for i, r in enumerate(done, 1)]


def formatted(table_rows: list[dict], fmt: str, hparams=None, metrics=None, aggregated: bool = False) -> str:
    if fmt not in FORMATS or fmt == "table":
        raise bad_choice("--format", fmt, FORMATS)
    if aggregated and fmt == "markdown":
        from nnml.sweep.groups import markdown

        return markdown(table_rows, list(hparams or []), list(metrics or []))
    return {"csv": R.to_csv, "markdown": R.to_markdown, "json": R.to_json}[fmt](table_rows)


@contextmanager
def quiet_reader():
    """TensorBoard's event reader logs each file it has read to the end at INFO: under Hydra's logging (the sweep's
    end reads every job's curves) that would be one line per job."""
    import logging

    log = logging.getLogger("tensorboard")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def read_curves(run_dir: Path, tags) -> dict:
    """``tag -> (epochs, values)`` from a run's event files, one point per epoch (the epoch's last step)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    with quiet_reader():
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
    with quiet_reader():
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


#: every configuration's line differs from the others' in colour AND in dash and marker, so that no line hides
#: another (two optimizers with the same curves stay two visible lines)
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def line_style(i: int) -> dict:
    """The i-th line's colour, dash and marker (colours of tab10, then tab20's light ones)."""
    import matplotlib

    colours = list(matplotlib.colormaps["tab10"].colors) + list(matplotlib.colormaps["tab20"].colors[1::2])
    return {"color": colours[i % len(colours)], "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "marker": MARKERS[i % len(MARKERS)]}


def mean_curves(runs: list, tags) -> dict:
    """``tag -> (epochs, means, lows, highs, n)`` over ``runs`` (one configuration's seeds): at each epoch the
    mean of the runs that reached it and the 95% t interval of that mean (the mean itself where one run did)."""
    from nnml import stats

    per_tag: dict = {}
    for run in runs:
        for tag, (xs, ys) in read_curves(run.path, tags).items():
            for x, y in zip(xs, ys):
                per_tag.setdefault(tag, {}).setdefault(x, []).append(float(y))
    out = {}
    for tag, points in per_tag.items():
        xs = sorted(points)
        rows = [stats.t_interval(points[x]) for x in xs]
        means = [r["mean"] for r in rows]
        lows = [r["ci_low"] if r["ci_low"] is not None else r["mean"] for r in rows]
        highs = [r["ci_high"] if r["ci_high"] is not None else r["mean"] for r in rows]
        out[tag] = (xs, means, lows, highs, max(len(points[x]) for x in xs))
    return out


def band_curves(groups, hparams, metrics) -> dict:
    """``{metric: {configuration label: (epochs, means, lows, highs)}}`` of the finished runs of each group, for
    the loss (train and val) and the validation counterpart of each metric."""
    tags = list(dict.fromkeys(["train/loss", "val/loss"] + ["val/" + m.split("/", 1)[-1] for m in metrics]))
    names = {g for grp in groups for r in grp.runs for g in r.choices}
    out: dict = {}
    for group in groups:
        members = group.finished
        if not members:
            continue
        name = label(members[0], hparams, names) if hparams else "every seed"
        for tag, (xs, means, lows, highs, _n) in mean_curves(members, tags).items():
            out.setdefault(tag, {})[name] = (xs, means, lows, highs)
    return {t: out[t] for t in tags if t in out}


def plot_curves(runs: list[R.Run], hparams, metric: str, path: Path, groups=None) -> Path:
    """Learning curves (train/loss and the validation metric against the epoch), one line per configuration:
    its mean over seeds with a band of the 95% t interval of that mean where it has several (``groups``: the
    configurations, :func:`nnml.sweep.groups.group`; default one per run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from nnml.sweep import groups as G

    val_tag = metric if metric.startswith("val/") else "val/" + metric.split("/", 1)[-1]
    tags = ["train/loss", val_tag]
    names = {g for r in runs for g in r.choices}
    if groups is None:
        groups = [G.Group({}, [r]) for r in runs]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    drawn, banded = 0, False
    for group in groups:
        members = [r for r in group.runs if r in runs] or group.runs
        curves = mean_curves(members, tags)
        if not curves:
            continue
        name = label(members[0], hparams, names)
        n = max(c[4] for c in curves.values())
        style = line_style(drawn)
        for ax, tag in zip(axes, tags):
            if tag not in curves:
                continue
            xs, means, lows, highs, _ = curves[tag]
            # markers every few epochs, each line starting at its own epoch: equal curves keep both markers
            every = max(1, len(xs) // 10)
            ax.plot(xs, means, markersize=3.5, linewidth=1.5, markevery=(drawn % every, every),
                    label=name + (f" (n={n})" if n > 1 else ""), **style)
            if n > 1:
                if tag.endswith("loss"):  # a log axis: keep the band's floor above zero
                    floor = min(v for v in means if v > 0) / 10 if any(v > 0 for v in means) else 1e-12
                    lows = [max(v, floor) for v in lows]
                ax.fill_between(xs, lows, highs, color=style["color"], alpha=0.15, linewidth=0)
                banded = True
        drawn += 1
    if not drawn:
        plt.close(fig)
        raise NnmlError("none of the runs has TensorBoard event files with train/loss or "
                        f"{val_tag}; train with logger=tensorboard (the default)")
    for ax, tag in zip(axes, tags):
        ax.set_xlabel("epoch")
        ax.set_ylabel(tag)
        ax.set_title(tag + (" (mean over seeds, band: 95% CI of the mean)" if banded else ""), fontsize=10)
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
