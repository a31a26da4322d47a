"""``nnml eval``: rebuild a finished run's data and model from its saved config, load a checkpoint, evaluate a split.

The config comes from disk, so its targets are checked against the allowed prefixes before anything is built.
On the same split and checkpoint the numbers equal the ``test/*`` metrics that training wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

from nnml.errors import NnmlError


def load_run_config(run_dir: Path, overrides: list[str] = ()):
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    run_dir = Path(run_dir)
    path = run_dir / ".hydra" / "config.yaml"
    if not run_dir.is_dir():
        raise NnmlError(f"run folder {run_dir} does not exist")
    if not path.is_file():
        raise NnmlError(f"{run_dir} is not an nnml run folder (no .hydra/config.yaml); give a folder under "
                        f"outputs/<task>/runs/ or a sweep job's folder")
    from nnml.config.precheck import apply_key_overrides

    try:
        cfg = apply_key_overrides(OmegaConf.load(path), list(overrides), f"the config of {run_dir}")
    except OmegaConfBaseException as e:
        raise NnmlError(f"{path}: {str(e).splitlines()[0]}") from None
    return cfg


def checkpoint_path(run_dir: Path, checkpoint: str) -> Path:
    if checkpoint in ("best", "last"):
        return Path(run_dir) / "checkpoints" / f"{checkpoint}.pt"
    return Path(checkpoint)


def evaluate_run(run_dir: Path, checkpoint: str = "best", split: str = "test", overrides: list[str] = ()) -> dict:
    from nnml.config.build import check_targets

    if split not in ("test", "val", "train"):
        raise NnmlError(f"--split {split} is not valid; choose one of: test, train, val")
    cfg = load_run_config(run_dir, overrides)
    allowed = list(cfg.get("allowed_targets") or [])
    check_targets(cfg, allowed)

    import torch

    from nnml.build import build_criterion, build_data, build_model, eval_batches
    from nnml.config.validate import validate
    from nnml.engine.checkpoint import load_checkpoint, load_model_weights
    from nnml.engine.device import autocast_context, configure_threads, resolve_device
    from nnml.engine.loop import Trainer

    validate(cfg)
    configure_threads(cfg.trainer.get("num_threads"))
    device = resolve_device(cfg.trainer.device)
    path = checkpoint_path(run_dir, checkpoint)
    ckpt = load_checkpoint(path)
    data = build_data(cfg.dataset, seed=int(cfg.seed), allowed=allowed)
    model = build_model(cfg.model, data, allowed)
    load_model_weights(model, ckpt, path)
    model.to(device)
    criterion = build_criterion(cfg.loss, data, "", allowed)
    batches = eval_batches(data, split, cfg.dataset, device)
    runner = Trainer(model, criterion, torch.optim.SGD(model.parameters(), lr=0.0), None, batches, batches,
                     task=data.task, num_outputs=data.num_outputs, device=device,
                     precision_ctx=autocast_context(device, str(cfg.trainer.precision)), max_epochs=1)
    return {f"{split}/{k}": v for k, v in runner.evaluate(batches).items()}


def print_eval(metrics: dict, run_dir, split: str, checkpoint: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
        return
    from rich.markup import escape

    from nnml.tracking.console import make_console, summary_table

    make_console().print(summary_table(metrics, title=escape(f"{run_dir} ({checkpoint} checkpoint, {split} split)")))
