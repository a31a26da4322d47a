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
        inputs: Optional[List[str]] = typer.Argument(None, help="Inputs: texts, image files, ... (as the task reads)."),
        file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read inputs from this file, one per line."),
        json_out: bool = typer.Option(False, "--json", help="One JSON object per input on stdout."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write an output file (e.g. a mask)."),
        beam: Optional[int] = typer.Option(None, "--beam", help="Beam width for sequence outputs (1: greedy)."),
        top: Optional[int] = typer.Option(None, "--top", "-k", help="How many classes or items to show."),
        checkpoint: str = typer.Option("best", "--checkpoint", "-c", help="best, last, or a checkpoint path."),
        allow: Optional[List[str]] = typer.Option(None, "--allow", help=ALLOW_HELP),
    ) -> None:
        """Predict with a finished run: nnml predict outputs/train/runs/<run> "some text" (or IMAGE.png, --file F)"""
        from nnml.cli.report import print_notes, run_cli_guarded

        def job():
            from nnml.errors import NnmlError

            items = list(inputs or [])
            if file is not None:
                if not file.is_file():
                    raise NnmlError(f"--file {file}: no such file")
                items += read_lines(file)
            if not items:
                raise NnmlError("nnml predict needs inputs: give them after the run folder or with --file FILE")
            from nnml.run.restore import restore_run

            restored = restore_run(run_dir, checkpoint, allow=allow or ())
            print_notes(restored.folder)
            task = restored.task
            from nnml.tasks.capabilities import Predicts

            if not isinstance(task, Predicts):
                raise NnmlError(f"{run_dir} is a run of {type(task).__name__}, which has no predictions from the "
                                f"command line; nnml eval {run_dir} evaluates it")
            options = {k: v for k, v in {"out": out, "beam": beam, "top": top}.items() if v is not None}
            rows = task.predict(items, options)
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


def read_lines(file: Path) -> list[str]:
    """The lines of a text file of inputs; a binary or non-UTF-8 file is one line naming the byte where it stops
    being text."""
    from nnml.errors import NnmlError

    data = file.read_bytes()
    zero = data.find(b"\x00")
    if zero >= 0:
        raise NnmlError(f"--file {file} is not a text file (a zero byte at offset {zero}); give one input per line "
                        f"as UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NnmlError(f"--file {file} is not UTF-8 text (byte offset {e.start}: {data[e.start:e.start + 1]!r}); save "
                        f"it as UTF-8, one input per line") from None
    return [line.rstrip("\r") for line in text.splitlines()]
