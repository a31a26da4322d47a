"""``nnml accelerate RUN_DIR``: smaller and faster versions of a finished run's model, measured side by side.

    nnml accelerate outputs/train/runs/<run>                       # every method but compile
    nnml accelerate outputs/train/runs/<run> --methods int8_dynamic,onnx --threads 1 --batch 64 --repeats 100
    nnml accelerate outputs/train/runs/<run> --tolerance 0.5pt --strict   # exit 1 if a variant loses more

Writes RUN_DIR/accelerated/: report.json, report.md, tradeoff.png and one folder per variant
(``nnml eval RUN_DIR --checkpoint accelerated/<variant>`` evaluates it). See docs/acceleration.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nnml.cli.report import ALLOW_HELP


def register(app: typer.Typer) -> None:
    @app.command(name="accelerate")
    def accelerate(
        run_dir: Path = typer.Argument(..., help="A run folder written by nnml train."),
        methods: Optional[str] = typer.Option(
            None, "--methods", "-m", help="Comma-separated: int8_dynamic, int8_static, prune_structured, "
            "prune_unstructured, bf16, onnx, compile; 'all'; default: all but compile."),
        threads: int = typer.Option(1, "--threads", "-t", help="torch (and ONNX Runtime) threads while timing."),
        batch: int = typer.Option(64, "--batch", "-b", help="The larger batch timed besides batch 1."),
        repeats: int = typer.Option(50, "--repeats", "-r", help="Timed runs per variant and batch size."),
        checkpoint: str = typer.Option("best", "--checkpoint", "-c", help="best, last, or a checkpoint path."),
        ratio: float = typer.Option(0.5, help="Pruning: the share of channels (structured) or weights removed."),
        finetune_epochs: int = typer.Option(5, "--finetune-epochs", help="Pruning: fine-tuning epochs after."),
        tolerance: Optional[str] = typer.Option(
            None, "--tolerance", help="How much of the original's test metric a usable variant may lose: Npt "
            "(percentage points of a fraction), N% (of the original's value) or a number; the largest applies. "
            "Default 1pt,2%."),
        strict: bool = typer.Option(False, "--strict", help="Exit with code 1 when a variant is degraded."),
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
        allow: Optional[List[str]] = typer.Option(None, "--allow", help=ALLOW_HELP),
    ) -> None:
        """Quantize, prune, compile and export a finished run's model; one table of size, MACs, latency and test
        metric: nnml accelerate outputs/train/runs/<run> --methods int8_dynamic,onnx"""
        from nnml.cli.report import run_cli_guarded

        def job():
            import json
            import sys

            from nnml.accelerate import report
            from nnml.accelerate.run import accelerate_run
            from nnml.tracking.console import make_console

            console = make_console(stderr=json_out)  # --json keeps stdout for the JSON alone
            result = accelerate_run(run_dir, methods=methods, threads=threads, batch=batch, repeats=repeats,
                                    checkpoint=checkpoint, options={"ratio": ratio, "finetune_epochs": finetune_epochs},
                                    allow=allow or (), tolerance=tolerance,
                                    log=lambda s: console.print(s, markup=False, highlight=False))
            if json_out:
                sys.stdout.write(json.dumps(result, default=float) + "\n")
            else:
                table, notes = report.rich_table(result)
                console.print(table)
                for line in notes + report.verdict_lines(result):
                    console.print(line, markup=False, highlight=False)
                out_dir = result["out_dir"]
                console.print(f"written: {out_dir}/report.md, report.json, tradeoff.png; variants in "
                              f"{out_dir}/<variant>", markup=False, highlight=False)
            return 1 if strict and result["degraded"] else 0

        code = run_cli_guarded(job)
        if code:
            raise typer.Exit(code)
