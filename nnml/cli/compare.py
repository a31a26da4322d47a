"""``nnml compare PATH...``: runs side by side, best first, with the hyperparameters that differ (the rows come from
:mod:`nnml.sweep.compare`); as a table, csv, markdown or json, and optionally their learning curves in one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        paths: Optional[List[Path]] = typer.Argument(None, help="Run, sweep or study folders (default outputs/)."),
        metric: Optional[List[str]] = typer.Option(None, "--metric", "-m",
                                                   help="Metric to rank by (repeat for more columns); default the "
                                                        "runs' monitored metric and its test/ counterpart."),
        sort: str = typer.Option("auto", help="desc, asc, or auto (accuracy-like descending, losses ascending)."),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv, markdown or json."),
        plot: Optional[Path] = typer.Option(None, help="Also draw all runs' learning curves into this PNG."),
        show_all: bool = typer.Option(False, "--all", help="Failed and unfinished runs in the table too (by "
                                                           "default they are listed apart, below it)."),
    ) -> None:
        """Runs side by side, best first, with the hyperparameters that differ: nnml compare outputs/train/multiruns/<sweep>"""
        from nnml.cli.report import run_cli_guarded

        run_cli_guarded(lambda: show(list(paths or []), list(metric or []), sort, fmt, plot, show_all))


def show(paths, metrics, sort: str, fmt: str, plot, show_all: bool) -> list[dict]:
    from nnml.errors import bad_choice
    from nnml.sweep import compare as C
    from nnml.sweep import runs as R

    if fmt not in C.FORMATS:
        raise bad_choice("--format", fmt, C.FORMATS)
    result = C.compare(paths, metrics=metrics, sort=sort, show_all=show_all)
    rows, metrics = result["rows"], result["metrics"]
    shown = rows if show_all else C.finished_rows(rows)
    if fmt == "table":
        from nnml.cli.tables import print_rows, table_console

        console = table_console()
        done = sum(r["status"] in ("ok", "pruned") for r in rows)
        title = f"{done} {'run' if done == 1 else 'runs'}, by {metrics[0]}{R.tie_note(metrics[0]) if sort == 'auto' else ''}"
        print_rows(console, rows, title, [], show_all=show_all)
    else:
        print(C.formatted(shown, fmt), end="")
    if plot:
        by_name = {r.name: r for r in result["runs"]}
        C.plot_curves([by_name[row["run"]] for row in shown], result["hparams"], metrics[0], Path(plot))
        if fmt == "table":
            from nnml.tracking.console import short_path

            console.print(f"learning curves: {short_path(plot)}", soft_wrap=True, highlight=False)
    return shown
