"""``nnml compare PATH...``: runs side by side, best first, with the hyperparameters that differ (the rows come from
:mod:`nnml.sweep.compare`; runs that differ only in seed are one configuration: mean ± std and 95% interval over
seeds); as a table, csv, markdown or json, and optionally their learning curves in one PNG. ``nnml compare A B``
(two runs or two configurations) gives a verdict instead: the difference, its 95% interval, a p-value and a
sentence (:mod:`nnml.sweep.verdict`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        paths: Optional[List[Path]] = typer.Argument(None, help="Run, sweep or study folders (default outputs/); "
                                                              "two runs (or two configurations): a verdict."),
        metric: Optional[List[str]] = typer.Option(None, "--metric", "-m",
                                                   help="Metric to rank by (repeat for more columns); default the "
                                                        "runs' monitored metric and its test/ counterpart."),
        sort: str = typer.Option("auto", help="desc, asc, or auto (accuracy-like descending, losses ascending)."),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv, markdown or json."),
        plot: Optional[Path] = typer.Option(None, help="Also draw the learning curves into this PNG (one line per "
                                                       "configuration: its mean over seeds with a 95% band)."),
        show_all: bool = typer.Option(False, "--all", help="Failed and unfinished runs in the table too (by "
                                                           "default they are listed apart, below it)."),
        a: Optional[str] = typer.Option(None, "--a", help="Verdict between two configurations of the runs: "
                                                           "KEY=VALUE[,KEY=VALUE] selecting A, e.g. optimizer_preset=adam."),
        b: Optional[str] = typer.Option(None, "--b", help="... and B (with --a)."),
        per_run: bool = typer.Option(False, "--per-run", help="One row per run, seeds not aggregated."),
        resamples: int = typer.Option(9999, help="Paired bootstrap resamples of a verdict between two runs."),
    ) -> None:
        """Runs side by side, best first, with the hyperparameters that differ: nnml compare outputs/train/multiruns/<sweep>

        Two runs, or two configurations of a seed sweep (nnml compare SWEEP --a KEY=VALUE --b KEY=VALUE): the
        difference with its 95% interval, a p-value and what it means (paired test on the same test samples
        between two runs; Welch's test over seeds between configurations).
        """
        from nnml.cli.report import run_cli_guarded

        run_cli_guarded(lambda: show(list(paths or []), list(metric or []), sort, fmt, plot, show_all, a, b,
                                     per_run, resamples))


def show(paths, metrics, sort: str, fmt: str, plot, show_all: bool, a=None, b=None, per_run: bool = False,
         resamples: int = 9999):
    from nnml.errors import bad_choice
    from nnml.sweep import compare as C
    from nnml.sweep import verdict as V

    if fmt not in C.FORMATS:
        raise bad_choice("--format", fmt, C.FORMATS)
    sides = V.sides(paths, a, b)
    if sides is not None:
        return show_verdict(sides, metrics, fmt, plot, resamples)
    return show_table(paths, metrics, sort, fmt, plot, show_all, per_run)


def show_table(paths, metrics, sort: str, fmt: str, plot, show_all: bool, per_run: bool) -> list[dict]:
    from nnml.sweep import compare as C
    from nnml.sweep import runs as R

    result = C.compare(paths, metrics=metrics, sort=sort, show_all=show_all, per_run=per_run)
    rows, metrics, aggregated = result["rows"], result["metrics"], result["aggregated"]
    shown = rows if show_all or aggregated else C.finished_rows(rows)
    console = None
    if fmt == "table":
        from nnml.cli.tables import print_rows, table_console

        console = table_console()
        if aggregated:
            _print_configurations(console, result, sort)
        else:
            done = sum(r["status"] in ("ok", "pruned") for r in rows)
            title = (f"{done} {'run' if done == 1 else 'runs'}, by {metrics[0]}"
                     f"{R.tie_note(metrics[0]) if sort == 'auto' else ''}")
            print_rows(console, rows, title, [], show_all=show_all)
    else:
        print(C.formatted(shown, fmt, result["hparams"], metrics, aggregated), end="")
    if plot:
        if aggregated:
            C.plot_curves(result["runs"], result["hparams"], metrics[0], Path(plot), groups=result["groups"])
        else:
            by_name = {r.name: r for r in result["runs"]}
            C.plot_curves([by_name[row["run"]] for row in shown], result["hparams"], metrics[0], Path(plot))
        if console is not None:
            from nnml.tracking.console import short_path

            console.print(f"learning curves: {short_path(plot)}", soft_wrap=True, highlight=False)
    return shown


def _print_configurations(console, result: dict, sort: str) -> None:
    from rich.markup import escape

    from nnml.sweep import groups as G
    from nnml.sweep import runs as R

    rows, metrics = result["rows"], result["metrics"]
    jobs = sum(r["n"] for r in rows)
    title = (f"{jobs} runs in {len(rows)} configurations, by mean {metrics[0]}"
             f"{R.tie_note(metrics[0]) if sort == 'auto' else ''}")
    console.print(G.rich_table(rows, result["hparams"], metrics, title, width=console.width,
                               caption=G.caption(rows, metrics)))
    for row in result.get("failures") or []:
        why = f": {escape(str(row['error']))}" if row.get("error") else ""
        console.print(f"[red]{escape(str(row['status']))}[/red] {escape(str(row['run']))}{why}", soft_wrap=True,
                      highlight=False)


def _num(v) -> str:
    if v is None:
        return ""
    return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.3g}"


def show_verdict(sides, metrics, fmt: str, plot, resamples: int) -> dict:
    """The verdict of A against B on each metric: a table (or csv, markdown, json), then one sentence each."""
    from nnml.sweep import compare as C
    from nnml.sweep import runs as R
    from nnml.sweep import verdict as V

    side_a, side_b = sides
    metrics = list(metrics) or R.default_metrics(side_a.runs + side_b.runs)
    result = V.verdicts(side_a, side_b, metrics, n_resamples=resamples)
    keys = ("metric", "a", "b", "diff", "ci_low", "ci_high", "p_value", "test", "verdict")
    rows = [{k: c.get(k) for k in keys} for c in result["comparisons"]]
    if fmt == "json":
        print(json.dumps({**{k: v for k, v in result.items() if k != "comparisons"}, "comparisons": rows},
                         indent=2, default=float, ensure_ascii=False))
    elif fmt in ("csv", "markdown"):
        print(C.formatted(rows, fmt), end="")
    else:
        from rich.table import Table

        from nnml.cli.tables import table_console

        console = table_console()
        how = ("paired tests on the same samples" if result["kind"] == "paired"
               else f"Welch's t test over seeds (n = {result['n_a']} and {result['n_b']})")
        table = Table(title=f"A = {side_a.name}, B = {side_b.name}: {how}")
        for h in ("metric", "A", "B", "A - B", "95% CI", "p", "test"):
            table.add_column(h, justify="left" if h in ("metric", "test") else "right")
        for c in result["comparisons"]:
            ci = f"[{_num(c['ci_low'])}, {_num(c['ci_high'])}]" if c.get("ci_low") is not None else ""
            table.add_row(c["metric"], _num(c["a"]), _num(c["b"]), _num(c["diff"]), ci, _num(c.get("p_value")),
                          str(c.get("test") or ""))
        console.print(table)
        for c in result["comparisons"]:
            console.print(c["verdict"], soft_wrap=True, highlight=False, markup=False)
    if plot:
        from nnml.sweep import groups as G

        runs = side_a.runs + side_b.runs
        hp = G.config_columns(runs)
        C.plot_curves(runs, hp, metrics[0], Path(plot), groups=[G.Group({}, side_a.runs), G.Group({}, side_b.runs)])
    return result
