"""``nnml eval RUN``: a finished run's checkpoint (or an accelerated variant) evaluated on a split, from the run's own
config read back as data (nnml/config/runfolder.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from nnml.cli.report import ALLOW_HELP


def register(app: typer.Typer) -> None:
    @app.command(name="eval")
    def eval_(
        run_dir: Path = typer.Argument(..., help="A run folder written by nnml train."),
        checkpoint: str = typer.Option("best", "--checkpoint", "-c", help="best, last, a file in the run's checkpoints/ (epoch-0007.pt), or a path."),
        split: str = typer.Option("test", "--split", "-s", help="test, val or train."),
        json_out: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object on stdout."),
        overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides of the run's config, e.g. "
                                                        "trainer.device=cpu dataset.eval_batch_size=512."),
        allow: Optional[List[str]] = typer.Option(None, "--allow", help=ALLOW_HELP),
    ) -> None:
        """Evaluate a finished run's checkpoint on a split: nnml eval outputs/train/runs/<run> --json"""
        from nnml.cli.report import print_notes, run_cli_guarded, split_allow

        def job():
            from nnml.accelerate.artifacts import variant_folder
            from nnml.accelerate.run import evaluate_variant
            from nnml.config.runfolder import RunFolder
            from nnml.run.restore import check_split, evaluate_run

            check_split(split)
            RunFolder(run_dir).require()
            _failed_run_note(run_dir, checkpoint)
            trusted, rest = split_allow(list(overrides or []), allow)
            variant = variant_folder(run_dir, checkpoint)  # accelerated/<variant>, written by nnml accelerate
            if variant is not None:
                found, folder = evaluate_variant(run_dir, variant, split, rest, allow=trusted)
                metrics = {f"{split}/{k}": v for k, v in found.items()}
            else:
                metrics, folder = evaluate_run(run_dir, checkpoint=checkpoint, split=split, overrides=rest,
                                               allow=trusted)
            print_notes(folder)
            print_eval(metrics, run_dir, split, checkpoint, json_out)

        run_cli_guarded(job)


def _failed_run_note(run_dir: Path, checkpoint: str) -> None:
    """A run that failed says so with its own error.txt: refused when it left no checkpoint to evaluate, else a
    note on stderr before the numbers of what it saved."""
    err = Path(run_dir) / "error.txt"
    if not err.is_file():
        return
    from nnml.errors import NnmlError

    text = " ".join(err.read_text(errors="replace").split()) or "no message"
    has_ckpt = checkpoint not in ("best", "last") or (Path(run_dir) / "checkpoints" / f"{checkpoint}.pt").is_file()
    if not has_ckpt:
        raise NnmlError(f"{run_dir} is a failed run with no {checkpoint} checkpoint to evaluate; its error.txt "
                        f"says: {text}")
    typer.echo(f"note: {run_dir} failed ({text}); evaluating the {checkpoint} checkpoint it saved", err=True)


def print_eval(metrics: dict, run_dir, split: str, checkpoint: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
        return
    from rich.markup import escape

    from nnml.tracking.console import make_console, summary_table

    console = make_console()
    # the run's path on a line of its own: as a table title it would be broken wherever the table's width ends
    console.print(escape(f"{run_dir} ({checkpoint} checkpoint, {split} split)"), soft_wrap=True, highlight=False)
    console.print(summary_table(metrics, title=None))
