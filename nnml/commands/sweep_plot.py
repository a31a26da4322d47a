"""``nnml sweep-plot SWEEP --x KEY --hue KEY``: one metric of a sweep's runs against one hyperparameter, a line
per value of another, as a table and a PNG. Label efficiency is its first use::

    nnml train -m experiment=label_efficiency model.encoder=outputs/train/runs/<simclr run>
    nnml sweep-plot outputs/label_efficiency/multiruns/<sweep> --x dataset.train_fraction --hue model.init \\
        --metric test/acc --logx --out label_efficiency.png

Runs are read as ``nnml compare`` reads them (their saved configs and metrics.json); several runs at the same
point (seeds) are averaged and their spread drawn as an error bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command(name="sweep-plot")
    def sweep_plot(
        paths: List[Path] = typer.Argument(..., help="Sweep (or run) folders."),
        x: str = typer.Option(..., "--x", help="The config key on the x axis, e.g. dataset.train_fraction."),
        hue: Optional[str] = typer.Option(None, "--hue", help="A config key: one line per value, e.g. model.init."),
        metric: str = typer.Option("test/acc", "--metric", "-m", help="The metric on the y axis."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default SWEEP/<metric>.png)."),
        logx: bool = typer.Option(False, "--logx", help="Logarithmic x axis (label fractions)."),
    ) -> None:
        """A sweep's metric against one key, a line per value of another: nnml sweep-plot SWEEP --x KEY --hue KEY"""
        from nnml.entry import run_cli_guarded

        def job():
            table = collect(paths, x, hue, metric)
            target = out or Path(paths[0]) / f"{metric.replace('/', '_')}_by_{x.split('.')[-1]}.png"
            draw(table, x, hue, metric, target, logx)
            print_table(table, x, hue, metric)
            print(f"plot: {target}")

        run_cli_guarded(job)


def collect(paths, x: str, hue: str | None, metric: str) -> dict:
    """``{hue value: {x value: [metric values]}}`` over the finished runs under ``paths``."""
    from nnml.errors import NnmlError, bad_choice
    from nnml.sweep.runs import load_runs

    runs = [r for r in load_runs(list(paths)) if r.status == "ok"]
    if not runs:
        raise NnmlError(f"no finished runs under {', '.join(str(p) for p in paths)}")
    keys = sorted({k for r in runs for k in r.config})
    for key in [x] + ([hue] if hue else []):
        if key not in keys:
            raise bad_choice("--x" if key == x else "--hue", key, keys)
    known = sorted({k for r in runs for k in r.metrics if "/" in k})
    if metric not in known:
        raise bad_choice("--metric", metric, known)
    table: dict = {}
    for r in runs:
        value = r.metrics.get(metric)
        if not isinstance(value, (int, float)):
            continue
        table.setdefault(str(r.config.get(hue)) if hue else metric, {}).setdefault(r.config.get(x), []).append(
            float(value))
    return table


def _stats(values):
    import statistics

    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def draw(table: dict, x: str, hue: str | None, metric: str, path: Path, logx: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, points in sorted(table.items()):
        xs = sorted(points, key=float)
        means, stds = zip(*(_stats(points[v]) for v in xs))
        ax.errorbar([float(v) for v in xs], means, yerr=stds, marker="o", capsize=3,
                    label=f"{hue}={name}" if hue else name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(table: dict, x: str, hue: str | None, metric: str) -> None:
    from rich.table import Table

    from nnml.tracking.console import make_console

    xs = sorted({v for points in table.values() for v in points}, key=float)
    t = Table(title=f"{metric} by {x}" + (f" and {hue}" if hue else ""))
    t.add_column(hue or "")
    for v in xs:
        t.add_column(f"{x.split('.')[-1]}={v}", justify="right")
    for name, points in sorted(table.items()):
        cells = []
        for v in xs:
            if v in points:
                m, s = _stats(points[v])
                cells.append(f"{m:.4f}" + (f" ± {s:.4f}" if len(points[v]) > 1 else ""))
            else:
                cells.append("")
        t.add_row(name, *cells)
    make_console().print(t)
