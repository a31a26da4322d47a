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
        from nnml.cli.entry import run_cli_guarded

        def job():
            from nnml.sweep.diff import diff_runs, print_diff, to_json

            result = diff_runs(run_a, run_b)
            if json_out:
                typer.echo(to_json(result), nl=False)
            else:
                print_diff(result)

        run_cli_guarded(job)
