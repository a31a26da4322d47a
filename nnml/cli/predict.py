"""``nnml predict RUN_DIR INPUT...``: a finished run's predictions on new inputs, whatever its task.

The run is restored from its folder (:func:`nnml.run.restore.restore_run`) and its task's ``predict(inputs, options)``
answers with one row (a dict) per input: a label with its probabilities, a translation, tagged entities, a mask
written to a file. Rows print as a rich table, or as JSON lines with ``--json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nnml.cli.report import ALLOW_HELP


def register(app: typer.Typer) -> None:
    @app.command()
    def predict(
        run_dir: Path = typer.Argument(..., help="A run folder written by nnml train."),
        inputs: Optional[List[str]] = typer.Argument(
            None, help="Inputs: texts, image files or folders, rows typed as 5.1,3.5,1.4,0.2 (as the task reads)."),
        file: Optional[Path] = typer.Option(None, "--file", "-f",
                                            help="A table of rows (classification/regression runs: CSV, TSV, "
                                                 "Parquet) or a file of inputs, one per line."),
        json_out: bool = typer.Option(False, "--json", help="One JSON object per input on stdout."),
        out: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Where to write an output file: the predictions as CSV "
                                                "(classification, regression), a mask (segmentation)."),
        beam: Optional[int] = typer.Option(None, "--beam", help="Beam width for sequence outputs (1: greedy)."),
        top: Optional[int] = typer.Option(None, "--top", "-k", help="How many classes or items to show."),
        checkpoint: str = typer.Option("best", "--checkpoint", "-c", help="best, last, or a checkpoint path."),
        allow: Optional[List[str]] = typer.Option(None, "--allow", help=ALLOW_HELP),
    ) -> None:
        """Predict with a finished run: nnml predict outputs/train/runs/<run> "some text" (or IMAGE.png, --file F)"""
        from nnml.cli.report import print_notes, run_cli_guarded

        def job():
            from nnml.run.predict import check_file, predict_rows
            from nnml.run.restore import restore_run

            check_file(file)  # before the run is restored: a typo costs no time
            restored = restore_run(run_dir, checkpoint, allow=allow or ())
            print_notes(restored.folder)
            rows = predict_rows(restored, inputs or [], file, {"out": out, "beam": beam, "top": top})
            print_rows(rows, json_out)

        run_cli_guarded(job)


def print_rows(rows: list[dict], as_json: bool) -> None:
    import json

    if as_json:
        for row in rows:
            print(json.dumps(row, default=str, ensure_ascii=False))
        return
    from rich.markup import escape
    from rich.table import Table

    from nnml.tracking.console import make_console

    cols = list(dict.fromkeys(k for r in rows for k in r))
    table = Table()
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*[escape(_cell(r.get(c))) for c in cols])
    make_console().print(table)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_cell(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return " ".join(_cell(x) for x in v)
    return str(v)
