"""From a run folder to the acceleration report: restore the run (``nnml.run.restore.restore_run``), hand its model,
data, evaluation and loss to :func:`nnml.accelerate.runner.accelerate`, write ``RUN_DIR/accelerated/``."""

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
                   checkpoint: str = "best", options: dict | None = None, allow=(), log=None) -> dict:
    """Make and measure the variants of ``run_dir``'s model and write ``RUN_DIR/accelerated/``; ``log`` gets one
    line per step as it goes. Returns the report (``nnml.accelerate.report``)."""
    from nnml.accelerate.methods import parse_methods

    names = parse_methods(methods)  # bad names: one line before anything is loaded
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
    x_train, y_train = _inputs_of(data.split("train"))
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

    criterion = getattr(task, "criterion", None)
    finetune = None if criterion is None or y_train is None else (
        lambda m, epochs: finetune_model(m, x_train, y_train, criterion, epochs, batch_size=bs,
                                         seed=int(restored.cfg.seed), lr=float((options or {}).get("lr", 1e-3))))
    out_dir = Path(run_dir) / "accelerated"
    result = accelerate(model, evaluate=evaluate, example=x_test[:max(batch, 2)], calibration=calibration,
                        out_dir=out_dir, methods=names, metric=metric, direction=direction, finetune=finetune,
                        num_outputs=getattr(data, "num_outputs", None), threads=threads, batch=batch,
                        repeats=repeats, options=options, log=log or (lambda s: None))
    result["run_dir"] = str(run_dir)
    result["checkpoint"] = checkpoint
    result["out_dir"] = str(out_dir)
    report.write(result, out_dir)
    return result


def evaluate_with(restored, module, split: str = "test") -> dict:
    """The run's own evaluation of ``split`` with ``module`` standing in for the task's primary module."""
    return restored.evaluate(split, module=module)


def finetune_model(model, x, y, criterion, epochs: int, batch_size: int = 64, seed: int = 0, lr: float = 1e-3) -> dict:
    """A few epochs of Adam on the training split with the run's loss (shuffled by a generator of ``seed``)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    total = n = 0
    for _ in range(epochs):
        total = n = 0
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            loss = criterion(model(x[idx]).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
    model.eval()
    return {"summary": f"Adam lr {lr:g}, last epoch's train loss {total / max(n, 1):.4f}"}


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
