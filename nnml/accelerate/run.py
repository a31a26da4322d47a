"""From a run folder to the acceleration report: restore the run (``nnml.run.restore.restore_run``), hand its model,
data, evaluation and fine-tuning (the task's own training step: :func:`nnml.run.finetune.finetune_module`) to
:func:`nnml.accelerate.runner.accelerate`, write ``RUN_DIR/accelerated/``."""

from __future__ import annotations

from pathlib import Path

from nnml.errors import NnmlError


def _check_run(run_dir: Path, checkpoint: str) -> Path:
    from nnml.config.runfolder import RunFolder

    path = RunFolder(run_dir).require().checkpoint(checkpoint)
    if not path.is_file():
        raise NnmlError(f"{run_dir} has no checkpoint {path.name} (the run did not finish an epoch, or "
                        f"trainer.checkpoint was off): every method needs trained weights, so nothing was made; "
                        f"train it again or pass --checkpoint PATH")
    return path


def _inputs_of(batch):
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    raise NnmlError("nnml accelerate handles tasks whose batches are (inputs, targets); this task's are "
                    f"{type(batch).__name__}")


def accelerate_run(run_dir: Path, methods: str | None = None, threads: int = 1, batch: int = 64, repeats: int = 50,
                   checkpoint: str = "best", options: dict | None = None, allow=(), log=None,
                   tolerance: str | None = None) -> dict:
    """Make and measure the variants of ``run_dir``'s model and write ``RUN_DIR/accelerated/``; ``log`` gets one
    line per step as it goes. ``tolerance``: how much of the original's test metric a usable variant may lose
    (:class:`nnml.accelerate.verdict.Tolerance`). Returns the report (``nnml.accelerate.report``)."""
    from nnml.accelerate.methods import parse_methods
    from nnml.accelerate.verdict import Tolerance

    names = parse_methods(methods)  # bad names: one line before anything is loaded
    tol = Tolerance.parse(tolerance)
    for key, value in (("--threads", threads), ("--batch", batch), ("--repeats", repeats)):
        if value < 1:
            raise NnmlError(f"{key} {value} is not valid; give a whole number of at least 1")
    _check_run(run_dir, checkpoint)

    import torch

    from nnml.accelerate import report
    from nnml.accelerate.runner import accelerate
    from nnml.run.restore import restore_run

    restored = restore_run(run_dir, checkpoint, device="cpu", allow=allow)
    task = restored.task
    name = task.primary
    model = task.modules[name]
    torch.set_num_threads(int(threads))
    data = restored.data
    x_train, _ = _inputs_of(data.split("train"))
    x_test, _ = _inputs_of(data.split("test"))
    from nnml.tasks.capabilities import example_inputs_of

    inputs = example_inputs_of(task, data, "test", max(batch, 2))
    if len(inputs) != 1:
        model_name = restored.cfg.model.get("_target_", type(model).__name__).rsplit(".", 1)[-1]
        raise NnmlError(f"nnml accelerate times, exports and quantizes models that take one input tensor; the "
                        f"{model_name} of this run takes {len(inputs)} ({type(task).__name__}), so nothing was made")
    metric = task.default_monitor.split("/", 1)[-1]
    direction = task.metric_directions().get(metric, "max")

    def evaluate(module):
        return evaluate_with(restored, module, "test")

    bs = int(restored.cfg.dataset.get("batch_size") or 64)

    def calibration():
        # up to 1024 training samples in training-size batches: enough for stable activation ranges
        n = min(len(x_train), 1024)
        return [x_train[i:i + bs] for i in range(0, n, bs)]

    finetune, no_finetune = None, ""
    if getattr(task, "automatic_optimization", True):
        from nnml.run.finetune import finetune_module

        def finetune(m, epochs):  # the task's own training step, batches and validation metric
            return finetune_module(restored, m, epochs, lr=float((options or {}).get("lr", 1e-3)))
    else:
        no_finetune = f"{type(task).__name__} steps its own optimizers: no single loss to fine-tune with"
    out_dir = Path(run_dir) / "accelerated"
    result = accelerate(model, evaluate=evaluate, example=x_test[:max(batch, 2)], calibration=calibration,
                        out_dir=out_dir, methods=names, metric=metric, direction=direction, finetune=finetune,
                        no_finetune=no_finetune, num_outputs=getattr(data, "num_outputs", None), threads=threads,
                        batch=batch, repeats=repeats, options=options, tolerance=tol, n_test=len(x_test),
                        log=log or (lambda s: None))
    result["run_dir"] = str(run_dir)
    result["checkpoint"] = checkpoint
    result["out_dir"] = str(out_dir)
    report.write(result, out_dir)
    return result


def evaluate_with(restored, module, split: str = "test") -> dict:
    """The run's own evaluation of ``split`` with ``module`` standing in for the task's primary module."""
    return restored.evaluate(split, module=module)


def evaluate_variant(run_dir: Path, folder: Path, split: str = "test", overrides=(), allow=()):
    """(metrics, the run's folder) of ``nnml eval RUN_DIR --checkpoint accelerated/<variant>``: the run's own
    evaluation of the rebuilt variant (on the CPU, where int8 kernels and ONNX Runtime run)."""
    from nnml.accelerate.artifacts import load_variant
    from nnml.run.restore import restore_run

    restored = restore_run(run_dir, "best", list(overrides), device="cpu", load_weights=False, allow=allow)
    task = restored.task
    x_train = restored.data.split("train")[0]
    module = load_variant(folder, task.modules[task.primary], example=x_train[:64])
    return evaluate_with(restored, module, split), restored.folder
