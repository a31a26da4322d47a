"""``nnml sweep-plot SWEEP --x KEY --hue KEY``: one metric of a sweep's runs against one hyperparameter, a line
per value of another, as a table and a PNG. Label efficiency is its first use::

    nnml train -m experiment=label_efficiency model.encoder=outputs/train/runs/<simclr run>
    nnml sweep-plot outputs/label_efficiency/multiruns/<sweep> --x dataset.train_fraction --hue model.init \\
        --metric test/acc --logx --out label_efficiency.png

Runs are read as ``nnml compare`` reads them (their saved configs and metrics.json); several runs at the same
point (seeds) are averaged, and the error bar is the 95% t interval of that mean (the table gives n, mean ± std and
the interval). Each line has its own colour, dash and marker, so that no line hides another. A key with names for values (``--x optimizer``,
``--x model.activation``) gets one tick per name and no line between them.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command(name="sweep-plot")
    def sweep_plot(
        paths: List[Path] = typer.Argument(..., help="Sweep (or run) folders."),
        x: str = typer.Option(..., "--x", help="The config key (dataset.train_fraction) or group (optimizer) on the x axis."),
        hue: Optional[str] = typer.Option(None, "--hue", help="A config key or group: one line per value, e.g. model.init."),
        metric: str = typer.Option("test/acc", "--metric", "-m", help="The metric on the y axis."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default SWEEP/<metric>.png)."),
        logx: bool = typer.Option(False, "--logx", help="Logarithmic x axis (label fractions)."),
    ) -> None:
        """A sweep's metric against one key, a line per value of another: nnml sweep-plot SWEEP --x KEY --hue KEY"""
        from nnml.cli.report import run_cli_guarded

        def job():
            table = collect(paths, x, hue, metric)
            target = out or Path(paths[0]) / f"{metric.replace('/', '_')}_by_{x.split('.')[-1]}.png"
            draw(table, x, hue, metric, target, logx)
            print_table(table, x, hue, metric)
            print(f"plot: {target}")

        run_cli_guarded(job)


def collect(paths, x: str, hue: str | None, metric: str) -> dict:
    """``{hue value: {x value: [metric values]}}`` over the finished runs under ``paths``. A key is a config key
    (``optimizer.lr``) or a config group (``optimizer``: the option each run chose, as ``nnml compare`` shows it)."""
    from nnml.errors import NnmlError, bad_choice
    from nnml.sweep.runs import load_runs

    runs = [r for r in load_runs(list(paths)) if r.status == "ok"]
    if not runs:
        raise NnmlError(f"no finished runs under {', '.join(str(p) for p in paths)}")
    groups = {g for r in runs for g in r.choices}
    keys = sorted({k for r in runs for k in r.config} | groups)
    for key in [x] + ([hue] if hue else []):
        if key not in keys:
            raise bad_choice("--x" if key == x else "--hue", key, keys)
    known = sorted({k for r in runs for k in r.metrics if "/" in k})
    if metric not in known:
        raise bad_choice("--metric", metric, known)

    def value_of(run, key):
        return run.choices.get(key) if key in groups and key in run.choices else run.config.get(key)

    table: dict = {}
    for r in runs:
        value = r.metrics.get(metric)
        if not isinstance(value, (int, float)):
            continue
        table.setdefault(str(value_of(r, hue)) if hue else metric, {}).setdefault(value_of(r, x), []).append(
            float(value))
    return table


def _numeric(values) -> bool:
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return True


def _ordered(values) -> list:
    """Numbers in numeric order; names (an optimizer, an activation) in alphabetical order."""
    values = list(values)
    return sorted(values, key=float) if _numeric(values) else sorted(values, key=str)


def _stats(values) -> dict:
    """n, mean, std and the 95% t interval of the mean (:func:`nnml.stats.t_interval`)."""
    from nnml.stats import t_interval

    return t_interval(values)


def draw(table: dict, x: str, hue: str | None, metric: str, path: Path, logx: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnml.errors import NnmlError

    every_x = _ordered({v for points in table.values() for v in points})
    numeric = _numeric(every_x)
    if logx and not (numeric and all(float(v) > 0 for v in every_x)):
        raise NnmlError(f"--logx needs positive numbers on the x axis; {x} takes "
                        f"{', '.join(map(str, every_x[:6]))}")
    position = {v: (float(v) if numeric else i) for i, v in enumerate(every_x)}
    fig, ax = plt.subplots(figsize=(max(5.5, 0.9 * len(every_x)) if not numeric else 5.5, 4))
    from nnml.sweep.compare import line_style

    for i, (name, points) in enumerate(sorted(table.items())):
        xs = [v for v in every_x if v in points]
        rows = [_stats(points[v]) for v in xs]
        means = [r["mean"] for r in rows]
        below = [r["mean"] - r["ci_low"] if r["ci_low"] is not None else 0.0 for r in rows]
        above = [r["ci_high"] - r["mean"] if r["ci_high"] is not None else 0.0 for r in rows]
        style = line_style(i)
        # a small shift per line keeps error bars at the same x apart when x is a name
        shift = 0.0 if numeric else (i - (len(table) - 1) / 2) * 0.08
        n = max(r["n"] for r in rows)
        # each line's markers a little smaller than the previous line's: equal points show as nested markers
        ax.errorbar([position[v] + shift for v in xs], means, yerr=[below, above], capsize=3,
                    color=style["color"], marker=style["marker"], markersize=max(3.5, 8.0 - 1.3 * i),
                    linestyle=style["linestyle"] if numeric else "none",
                    label=(f"{hue}={name}" if hue else name) + (f" (n={n})" if n > 1 else ""))
    if not numeric:  # names: one tick per value, no line joining them (their order means nothing)
        ax.set_xticks(range(len(every_x)), [str(v) for v in every_x], rotation=30 if len(every_x) > 4 else 0)
        ax.set_xlim(-0.5, len(every_x) - 0.5)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    many = any(len(v) > 1 for points in table.values() for v in points.values())
    ax.set_ylabel(metric + (" (mean, 95% CI over seeds)" if many else ""))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # no line drawn (no job has the metric): no legend, no warning
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(table: dict, x: str, hue: str | None, metric: str) -> None:
    from rich.table import Table

    from nnml.tracking.console import make_console

    xs = _ordered({v for points in table.values() for v in points})
    many = any(len(v) > 1 for points in table.values() for v in points.values())
    t = Table(title=f"{metric} by {x}" + (f" and {hue}" if hue else ""),
              caption="mean ± std over seeds, [95% t interval of the mean], n runs" if many else None,
              caption_justify="left")
    t.add_column(hue or "")
    for v in xs:
        t.add_column(f"{x.split('.')[-1]}={v}", justify="right")
    for name, points in sorted(table.items()):
        cells = []
        for v in xs:
            if v in points:
                r = _stats(points[v])
                cells.append(f"{r['mean']:.4f}" + (f" ± {r['std']:.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}] "
                                                   f"n={r['n']}" if r["n"] > 1 else ""))
            else:
                cells.append("")
        t.add_row(name, *cells)
    make_console().print(t)
