"""``nnml diff RUN_A RUN_B``: two runs compared: the config keys that differ, the environment and code they ran
with (provenance.json), and their metrics side by side with B−A and which is better. Works on any two run
folders, two jobs of a sweep (``.../optimizer=sgd .../optimizer=adam``) included."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command(name="diff")
    def diff(
        run_a: Path = typer.Argument(..., help="The first run folder (A, the reference)."),
        run_b: Path = typer.Argument(..., help="The second run folder (B); differences are B−A."),
        json_out: bool = typer.Option(False, "--json", help="Print the comparison as one JSON object on stdout."),
    ) -> None:
        """What differs between two runs (config, environment and code, metrics): nnml diff RUN_A RUN_B"""
        from nnml.cli.report import run_cli_guarded

        def job():
            from nnml.sweep.diff import diff_runs, to_json

            result = diff_runs(run_a, run_b)
            if json_out:
                typer.echo(to_json(result), nl=False)
            else:
                print_diff(result)

        run_cli_guarded(job)


def print_diff(result: dict, console=None) -> None:
    """The comparison as rich tables: config, environment and code, metrics, run."""
    from rich.markup import escape
    from rich.table import Table

    from nnml.cli.tables import table_console
    from nnml.sweep.diff import cell
    from nnml.sweep.runs import fmt
    from nnml.tracking.console import short_path

    console = console or table_console()
    console.print(f"A: {escape(short_path(result['a']))}\nB: {escape(short_path(result['b']))}", highlight=False)

    def side_table(title: str, rows: list[dict], first: str = "key") -> None:
        table = Table(title=title, title_justify="left")
        for col in (first, "A", "B"):
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(escape(row["key"]), *(escape(cell(row, s)) for s in ("a", "b")))
        console.print(table)

    changed = [{**r, "key": f"{r['key']} (group)"} for r in result["choices"]] + result["config"]
    if changed:
        side_table(f"Config: {len(result['config'])} of {result['config_keys']} keys differ", changed)
    else:
        console.print(f"Config: the same ({result['config_keys']} keys)", highlight=False)

    have = result["provenance"]
    if result["environment"] is None:
        missing = "neither run has" if not (have["a"] or have["b"]) else f"{'B' if have['a'] else 'A'} has no"
        console.print(f"Environment and code: {missing} provenance.json (older runs do not write one); not compared",
                      highlight=False)
    elif result["environment"]:
        side_table("Environment and code (provenance.json)", result["environment"], first="field")
    else:
        console.print("Environment and code: the same (provenance.json)", highlight=False)

    if result["metrics"]:
        table = Table(title="Metrics", title_justify="left")
        for col in ("metric", "A", "B", "B−A", "better"):
            table.add_column(col, justify="left" if col in ("metric", "better") else "right")
        for row in result["metrics"]:
            better = {"a": "A", "b": "B", "same": "same", None: ""}[row["better"]]
            if row["better"] in ("a", "b"):
                better = f"[green]{better}[/]"
            diff = "" if row["diff"] is None else f"{row['diff']:+.4g}"
            a, b = ("-" if row[s] is None else fmt(row[s]) for s in ("a", "b"))
            table.add_row(escape(row["metric"]), a, b, diff, better)
        console.print(table)
    else:
        console.print("Metrics: neither run has any (no metrics.json)", highlight=False)

    table = Table(title="Run", title_justify="left")
    for col in ("", "A", "B"):
        table.add_column(col)
    for row in result["run"]:
        table.add_row(escape(row["key"]), escape(fmt(row["a"])), escape(fmt(row["b"])))
    console.print(table)
