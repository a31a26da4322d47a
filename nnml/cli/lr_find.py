"""``nnml lr-find [OVERRIDES]``: the learning-rate range test (:mod:`nnml.run.lr_find`) on the run that ``nnml train
OVERRIDES`` would start, without training it: the suggestion as an override, and a figure (PNG and TensorBoard).

Writes ``outputs/lr_find/<time>/``: ``lr_find.png``, ``lr_find.json`` (the curve and the suggestions) and a
TensorBoard event file (the figure, the loss against the step); no run folder. ``--out FILE.png`` writes only that
figure. ``--train`` then trains the run with the suggested learning rate (``nnml train OVERRIDES optimizer.lr=...``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer


def sci(x: float) -> str:
    """A learning rate as an override value: 2 significant digits, short exponent (``3e-3``, ``2.5e-4``, ``0.1``)."""
    if not x or not math.isfinite(x):
        return str(x)
    mantissa, exp = f"{x:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    e = int(exp)
    if -1 <= e <= 1:
        return f"{float(f'{x:.2g}'):g}"
    return f"{mantissa}e{e}"


def register(app: typer.Typer) -> None:
    @app.command(name="lr-find", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def lr_find(
        overrides: Optional[List[str]] = typer.Argument(None, help="Train overrides (key=value ...), as for nnml train."),
        start_lr: float = typer.Option(1e-7, "--start-lr", help="First learning rate of the range."),
        end_lr: float = typer.Option(10.0, "--end-lr", help="Last learning rate of the range."),
        steps: int = typer.Option(100, "--steps", help="Steps over the range (the lr grows exponentially)."),
        method: str = typer.Option("valley", "--method", help="valley (the longest descent) or steep (the "
                                                              "steepest descent)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write only this PNG (no folder under outputs/)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        train: bool = typer.Option(False, "--train", help="Then train the run with the suggested learning rate."),
    ) -> None:
        """The learning-rate range test: nnml lr-find; nnml lr-find optimizer=sgd model=cnn; nnml lr-find --train"""
        from nnml.cli.report import run_cli_guarded

        args = list(overrides or [])
        result = {}
        run_cli_guarded(lambda: result.update(_find(args, start_lr, end_lr, steps, method, out, as_json)))
        if train and result:
            from nnml.cli.train import run_train_command

            run_train_command([*[a for a in args if not a.startswith("optimizer.lr=")],
                               f"optimizer.lr={result['override_value']}"])


def _find(args, start_lr, end_lr, steps, method, out, as_json) -> dict:
    import json

    from nnml.cli.checks.precheck import compose_checked
    from nnml.config.targets import Trust
    from nnml.errors import NnmlError
    from nnml.run.lr_find import METHODS, build_for_range_test, figure, range_test
    from nnml.tracking.console import make_console, short_path

    if method not in METHODS:
        raise NnmlError(f"--method {method} is not valid; choose one of: {', '.join(METHODS)}")
    if out is not None and out.suffix.lower() != ".png":
        raise NnmlError(f"--out {out}: the figure is a PNG; give a file name ending in .png")
    cfg, choices = compose_checked(args, "lr-find")
    task, batches, device, autocast = build_for_range_test(cfg, Trust.own(cfg))
    result = range_test(task, batches, device=device, autocast=autocast, start_lr=start_lr, end_lr=end_lr,
                        num_steps=steps, method=method)
    what = f"{choices.get('dataset', '')}, {choices.get('model', '')}, {choices.get('optimizer', '')}"
    fig = figure(result, f"lr range test: {what}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
        folder = None
    else:
        folder = _save(result, fig, cfg)
    value = sci(result.suggestion)
    summary = {**result.as_dict(), "override": f"optimizer.lr={value}", "override_value": value,
               "figure": str(out or folder / "lr_find.png"), "folder": str(folder) if folder else None}
    console = make_console(stderr=as_json)
    other = next(m for m in METHODS if m != method)
    how = {"valley": "halfway into the longest descent of the smoothed loss",
           "steep": "where the smoothed loss falls fastest"}
    lo, hi = result.valley or (math.nan, math.nan)
    lines = [f"nnml lr-find  {what}: {len(result.lrs)} steps from lr {start_lr:g} towards {end_lr:g}; "
             f"{result.stop_reason}",
             f"suggestion: optimizer.lr={value}",
             f"  chosen by {method}: {how[method]}" + (f" (lr {lo:.2g} to {hi:.2g})" if method == "valley" else ""),
             f"  {other}: lr {result.suggestions[other][0]:.2g}",
             f"figure: {short_path(summary['figure'])}" + (f"  (TensorBoard: nnml board {short_path(folder)})"
                                                          if folder else ""),
             f"train with it: nnml train {' '.join([*(a for a in args if not a.startswith('optimizer.lr=')), ''])}"
             f"optimizer.lr={value}"]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if as_json:
        print(json.dumps({k: v for k, v in summary.items() if k not in ("lrs", "losses", "smoothed")}))
    return summary


def _save(result, fig, cfg) -> Path:
    """``outputs/lr_find/<time>/``: the PNG, the numbers, and a TensorBoard event file with both."""
    import time

    from torch.utils.tensorboard import SummaryWriter

    from nnml.config.resolvers import fresh_dir
    from nnml.tracking.runfiles import write_json_atomic

    folder = Path(fresh_dir(str(Path("outputs") / "lr_find" / time.strftime("%Y-%m-%d_%H-%M-%S"))))
    fig.savefig(folder / "lr_find.png", dpi=100)
    write_json_atomic(folder / "lr_find.json", result.as_dict())
    writer = SummaryWriter(str(folder))
    for step, (lr, loss, sm) in enumerate(zip(result.lrs, result.losses, result.smoothed)):
        writer.add_scalar("lr_find/lr", lr, step)
        if math.isfinite(loss):
            writer.add_scalar("lr_find/loss", loss, step)
        if math.isfinite(sm):
            writer.add_scalar("lr_find/smoothed_loss", sm, step)
    writer.add_figure("lr_find", fig, close=True)
    writer.close()
    return folder
