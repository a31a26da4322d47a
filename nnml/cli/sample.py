"""``nnml sample RUN_DIR [--n 64] [--label K] [--out grid.png]``: draw new samples from a finished GAN or VAE run
(its best checkpoint; the EMA generator where the run kept one) and save them as an image grid, or for 2-D data
as a scatter over the data."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nnml.cli.report import ALLOW_HELP


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"help_option_names": ["-h", "--help"]})
    def sample(
        run_dir: Path = typer.Argument(..., help="a finished run of task=gan or task=vae"),
        n: int = typer.Option(64, "--n", help="number of samples"),
        label: int = typer.Option(None, "--label", help="class of every sample (conditional models only)"),
        out: Path = typer.Option(None, "--out", help="PNG to write (default: RUN_DIR/samples.png)"),
        seed: int = typer.Option(0, "--seed", help="seed of the noise"),
        checkpoint: str = typer.Option("best", "--checkpoint", help="best, last or a checkpoint file"),
        allow: Optional[List[str]] = typer.Option(None, "--allow", help=ALLOW_HELP),
    ) -> None:
        """Draw samples from a trained generative model and save them as a PNG grid."""
        from nnml.cli.report import run_cli_guarded

        run_cli_guarded(lambda: _sample(run_dir, n, label, out, seed, checkpoint, allow or ()))


def _sample(run_dir: Path, n: int, label, out, seed: int, checkpoint: str, allow=()) -> None:
    from nnml.errors import NnmlError

    if n < 1:
        raise NnmlError(f"--n {n} is not valid; it must be at least 1")
    from nnml.run.restore import restore_run

    restored = restore_run(run_dir, checkpoint=checkpoint, allow=allow)
    task = restored.task
    if not hasattr(task, "sample"):
        raise NnmlError(f"{run_dir} is a run of a task that cannot sample ({type(task).__name__}); nnml sample "
                        f"takes runs of task=gan or task=vae")
    out = Path(out) if out else Path(run_dir) / "samples.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    x = task.sample(n, label=label, seed=seed)
    from nnml.tasks.generative import plots

    if task.data.task == "points2d":
        fig = plots.density_figure(task.data.x_val, x, task.data.meta.get("modes"), task.data.meta.get("mode_std"),
                                   title=f"{n} samples")
        fig.savefig(out, dpi=110)
    else:
        plots.save_image(plots.image_grid(x, value_range=task.data.meta.get("value_range")), out)
    print(f"{n} samples{'' if label is None else f' of class {label}'} from {run_dir} -> {out}")
