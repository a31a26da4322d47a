"""``nnml accelerate RUN_DIR``: smaller and faster versions of a finished run's model, measured side by side.

    nnml accelerate outputs/train/runs/<run>                       # every method but compile
    nnml accelerate outputs/train/runs/<run> --methods int8_dynamic,onnx --threads 1 --batch 64 --repeats 100

Writes RUN_DIR/accelerated/: report.json, report.md, tradeoff.png and one folder per variant
(``nnml eval RUN_DIR --checkpoint accelerated/<variant>`` evaluates it). See docs/acceleration.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


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
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    ) -> None:
        """Quantize, prune, compile and export a finished run's model; one table of size, MACs, latency and test
        metric: nnml accelerate outputs/train/runs/<run> --methods int8_dynamic,onnx"""
        from nnml.cli.entry import run_cli_guarded

        def job():
            from nnml.accelerate.run import accelerate_run

            accelerate_run(run_dir, methods=methods, threads=threads, batch=batch, repeats=repeats,
                           checkpoint=checkpoint, options={"ratio": ratio, "finetune_epochs": finetune_epochs},
                           as_json=json_out)

        run_cli_guarded(job)
