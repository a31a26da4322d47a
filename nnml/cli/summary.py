"""``nnml summary RUN_DIR`` or ``nnml summary [OVERRIDES...]``: the model layer by layer (output shapes for one
batch, parameters per layer, trainable or frozen), as Keras' ``model.summary()`` shows it, without training.

With a run folder the run's own config builds the model (no weights are needed); with overrides the model is the
one ``nnml train OVERRIDES`` would build, after the same checks."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def summary(
        target: Optional[List[str]] = typer.Argument(None, help="A run folder, or train overrides (key=value ...)."),
        batch: int = typer.Option(2, "--batch", help="Batch size of the example input the shapes are shown for."),
    ) -> None:
        """Layer-by-layer model summary: nnml summary outputs/train/runs/<run>; nnml summary model=cnn"""
        from nnml.cli.report import run_cli_guarded

        def job():
            args = list(target or [])
            modules, data, title = _build(args)
            from nnml.tracking.console import make_console
            from nnml.tracking.layers import layer_rows, layer_table

            console = make_console()
            x = getattr(data, "x_train", None)
            for name, module in modules.items():
                sample = x[:batch] if x is not None and name == next(iter(modules)) else None
                rows = layer_rows(module, sample) if sample is not None else layer_rows(module, None)
                console.print(layer_table(rows, module, title=f"{title}: {name}"))

        run_cli_guarded(job)


def _build(args: list[str]):
    """(the task's modules, the data, a title) from a run folder (``allowed_targets=[...]`` beside it names the
    user's own code it may build) or from train overrides."""
    import torch

    from nnml.cli.report import print_notes, split_allow

    if args and "=" not in args[0] and Path(args[0]).is_dir():
        from nnml.run.restore import restore_run

        allow, rest = split_allow(args[1:])
        if rest:
            from nnml.errors import NnmlError

            raise NnmlError(f"nnml summary RUN takes no overrides besides allowed_targets=[...]; got {' '.join(rest)}")
        restored = restore_run(Path(args[0]), load_weights=False, device="cpu", allow=allow)
        print_notes(restored.folder)
        return restored.task.modules, restored.task.data, f"run {args[0]}"
    from nnml.cli.checks.precheck import precheck_train, split_hydra_flags

    flags, overrides = split_hydra_flags(args)
    if flags:
        from nnml.errors import NnmlError

        raise NnmlError(f"nnml summary takes a run folder or overrides, not {' '.join(flags)}")
    overrides = [*overrides, *precheck_train(overrides).extra]
    from nnml.config.compose import compose_train
    from nnml.config.seeds import data_seed
    from nnml.config.targets import Trust
    from nnml.run.build import Builder, build_data, build_task, resolve_monitor

    cfg = compose_train(overrides)
    trust = Trust.own(cfg)
    data = build_data(cfg.dataset, seed=data_seed(cfg), trust=trust)
    task = build_task(cfg, data, trust)
    _, mode = resolve_monitor(cfg.trainer, task)
    builder = Builder(cfg, data, torch.device("cpu"), seed=int(cfg.seed), trust=trust, monitor_mode=mode)
    torch.manual_seed(int(cfg.seed))
    task.setup(builder)
    return task.modules, data, "nnml train " + " ".join(overrides) if overrides else "the default model"
