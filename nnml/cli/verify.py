"""``nnml verify RUN``: train a run folder's recorded config again with its recorded threads, device and seeds, and
compare every number (nnml/sweep/verify.py). Exit 0 when they agree, 1 with a table of the differences."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nnml.cli.report import ALLOW_HELP

MAX_ROWS = 40  # differences shown; the count says how many there are


def register(app: typer.Typer) -> None:
    @app.command(name="verify")
    def verify(
        run_dir: Path = typer.Argument(..., help="A run folder written by nnml train (a sweep job's folder too)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", "-e", help="Check only the first K epochs, against "
                                             "the run's per-epoch history (metrics.csv or TensorBoard events)."),
        rtol: Optional[float] = typer.Option(None, "--rtol", help="Relative tolerance (default: 0 on the CPU, bit "
                                             "for bit; 1e-3 on CUDA)."),
        keep: Optional[Path] = typer.Option(None, "--keep", help="Train the re-run into this folder and keep it "
                                            "(default: a temporary folder, removed)."),
        allow: Optional[List[str]] = typer.Option(None, "--allow", help=ALLOW_HELP),
    ) -> None:
        """Re-run a run folder's config and compare its numbers: nnml verify outputs/train/runs/<run> [--epochs 3]"""
        from nnml.cli.report import note, run_cli_guarded, stop_on_sigterm

        stop_on_sigterm()
        out = {}

        def job():
            from nnml.errors import NnmlError
            from nnml.sweep.verify import verify as run_verify

            if keep is not None and keep.exists() and any(keep.iterdir()):
                raise NnmlError(f"--keep {keep}: the folder exists and is not empty; give a new folder")
            out["result"] = run_verify(run_dir, allow=list(allow or []), epochs=epochs, rtol=rtol, keep=keep,
                                       before_rerun=_announce)

        run_cli_guarded(job)
        result = out["result"]
        for line in result["notes"]:  # what reading the folder found worth saying
            note(line)
        code = print_result(result)
        raise typer.Exit(code)


def _announce(setup, source) -> None:
    from nnml.cli.report import note

    what = f"the first {setup.epochs} epochs" if setup.epochs else "the whole run"
    seeds = ", ".join(f"{k} {v}" for k, v in setup.seeds.items())
    note(f"re-running {what} on {setup.device} with {setup.threads} "
         f"{'thread' if setup.threads == 1 else 'threads'}, {seeds}")
    for line in setup.notes:
        note(line)
    if source is None and not setup.epochs:
        note("the run kept no per-epoch history (no metrics.csv, no TensorBoard events): only its final numbers "
             "are compared")


def print_result(result: dict) -> int:
    """The verdict on one line, and the differences as a table; returns the exit code."""
    from rich.table import Table

    from nnml.cli.tables import table_console
    from nnml.tracking.console import fmt

    diffs, checked = result["differences"], result["checked"]
    how = "bit for bit" if result["rtol"] == 0 else f"within a relative {result['rtol']:g}"
    where = {"metrics.csv": "metrics.json and metrics.csv", "tensorboard": "metrics.json and the TensorBoard "
             "events (float32)"}.get(result["source"], "metrics.json")
    if result["setup"].epochs:
        where = where.replace("metrics.json and ", "")
    if result.get("folder"):
        typer.echo(f"re-run kept in {result['folder']}", err=True)
    if not diffs:
        typer.echo(f"verified: {checked} numbers ({where}) match the re-run {how}")
        return 0
    table = Table(title=f"{len(diffs)} of {checked} numbers differ from the re-run ({how} expected)")
    for col, justify in (("metric", "left"), ("epoch", "right"), ("recorded", "right"), ("re-run", "right"),
                         ("re-run − recorded", "right")):
        table.add_column(col, justify=justify)
    for d in diffs[:MAX_ROWS]:
        a, b = d["recorded"], d["rerun"]
        delta = f"{b - a:+.3g}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) else ""
        table.add_row(d["what"], str(d["epoch"]), _cell(a, fmt), _cell(b, fmt), delta)
    console = table_console()
    console.print(table)
    if len(diffs) > MAX_ROWS:
        console.print(f"... and {len(diffs) - MAX_ROWS} more", highlight=False)
    console.print(f"not verified: {result['run']} does not reproduce", highlight=False, soft_wrap=True)
    return 1


def _cell(v, fmt) -> str:
    if isinstance(v, float):
        return repr(v) if abs(v) < 1e4 else fmt(v)
    return "-" if v is None else str(v)
