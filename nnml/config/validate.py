"""Checks run on the composed config before anything is built.

Plain YAML accepts ``trainer.max_epochs=abc``; these checks refuse it with one line that names the key, the bad
value and what would be valid. Group options (model, optimizer, ...) are checked by Hydra itself when composing.
"""

from __future__ import annotations

import math
from numbers import Number

from nnml.errors import NnmlError, did_you_mean


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, Number) and not isinstance(v, bool)


def positive_int(v):
    return _is_int(v) and v > 0, "a positive integer"


def non_negative_int(v):
    return _is_int(v) and v >= 0, "an integer >= 0"


def optional_non_negative_int(v):
    return v is None or (_is_int(v) and v >= 0), "null or an integer >= 0"


def positive_number(v):
    return _is_num(v) and math.isfinite(v) and v > 0, "a finite number > 0"


def non_negative_number(v):
    return _is_num(v) and math.isfinite(v) and v >= 0, "a finite number >= 0"


def optional_positive_number(v):
    return v is None or (_is_num(v) and math.isfinite(v) and v > 0), "null or a finite number > 0"


def fraction(v):
    return _is_num(v) and 0 <= v < 1, "a number in [0, 1)"


def boolean(v):
    return isinstance(v, bool), "true or false"


def one_of(*choices):
    def check(v):
        return str(v) in choices, "one of: " + ", ".join(choices)

    return check


def string(v):
    return isinstance(v, str) and v != "", "a non-empty string"


def seed(v):
    # numpy's and Python's generators take seeds below 2**32; a larger one fails only after the run folder exists
    return _is_int(v) and 0 <= v < 2**32, "an integer in [0, 2^32)"


def folder_name(v):
    """A name that stays one folder inside outputs/: no path separators, no '..', not absolute."""
    s = str(v)
    ok = isinstance(v, str) and s not in ("", ".", "..") and "/" not in s and "\\" not in s and not s.startswith("~")
    return ok and len(s) <= 100, "a folder name inside outputs/ (no /, no .., at most 100 characters), e.g. train"


def batch_limit(v):
    ok = v is None or (_is_int(v) and v > 0) or (isinstance(v, float) and 0 < v <= 1)
    return ok, "null (every batch), a number of batches >= 1, or a fraction in (0, 1] such as 0.25"


def device(v):
    s = str(v)
    ok = s in ("auto", "cpu", "cuda", "mps") or (s.startswith("cuda:") and s[5:].isdigit())
    return ok, "one of: auto, cpu, cuda, cuda:N, mps"


def threads(v):
    return v in (None, "auto") or (_is_int(v) and v > 0), "auto or a positive integer"


# key -> check; only keys present in the config are checked (a dataset without `noise` has no noise to check).
SCHEMA = {
    "seed": seed,
    "data_seed": seed,
    "task_name": folder_name,
    "trainer.max_epochs": positive_int,
    "trainer.device": device,
    "trainer.precision": one_of("32", "bf16", "16"),
    "trainer.grad_clip": optional_positive_number,
    "trainer.log_every_n_steps": positive_int,
    "trainer.layer_stats": boolean,
    "trainer.train_metrics": boolean,
    "trainer.accumulate_grad_batches": positive_int,
    "trainer.limit_train_batches": batch_limit,
    "trainer.limit_val_batches": batch_limit,
    "trainer.limit_test_batches": batch_limit,
    "trainer.overfit_batches": non_negative_int,
    "trainer.val_every_n_epochs": positive_int,
    "trainer.monitor": string,
    "trainer.mode": one_of("auto", "min", "max"),
    "trainer.patience": optional_non_negative_int,
    "trainer.deterministic": boolean,
    "trainer.compile": boolean,
    "trainer.detect_anomaly": boolean,
    "trainer.checkpoint_every_n_epochs": non_negative_int,
    "trainer.checkpoint_every_s": non_negative_number,
    "trainer.save_top_k": non_negative_int,
    "trainer.keep_every_n_epochs": non_negative_int,
    "trainer.num_threads": threads,
    "trainer.devices": positive_int,
    "trainer.num_nodes": positive_int,
    "trainer.node_rank": optional_non_negative_int,
    "trainer.dist_backend": one_of("auto", "nccl", "gloo"),
    "trainer.max_restarts": non_negative_int,
    "dataset.batch_size": positive_int,
    "dataset.eval_batch_size": lambda v: (v is None or (_is_int(v) and v > 0), "null or a positive integer"),
    "dataset.val_fraction": fraction,
    "dataset.test_fraction": fraction,
    "dataset.n_samples": lambda v: (v is None or (_is_int(v) and v >= 10), "null or an integer >= 10"),
    "dataset.noise": non_negative_number,
    "dataset.loader": one_of("auto", "memory", "dataloader"),
    "dataset.num_workers": non_negative_int,
    "optimizer.lr": positive_number,
    "optimizer.weight_decay": non_negative_number,
    "optimizer.momentum": non_negative_number,
    "model.dropout": fraction,
    # a number of classes (spirals); a list of class names (shapes) is its own dataset's business
    "dataset.classes": lambda v: (not _is_int(v) or v >= 2, "at least 2 (one class leaves nothing to learn)"),
    # the shipped schedulers' keys: torch takes a 0 or a negative here and fails (or trains backwards) in the run
    "scheduler.step_size": positive_int,
    "scheduler.T_max": positive_int,
    "scheduler.gamma": positive_number,
    "scheduler.max_lr": positive_number,
    "scheduler.pct_start": fraction,
    "scheduler.warmup_epochs": non_negative_int,
    "scheduler.eta_min": non_negative_number,
}

# Trainer keys that change what a run computes (its numbers), not only where or how fast it runs: a resumed run
# keeps them (nnml/config/resume.py). devices and num_nodes change the global batch.
RESULT_KEYS = ("trainer.precision", "trainer.grad_clip", "trainer.deterministic", "trainer.monitor", "trainer.mode",
               "trainer.devices", "trainer.num_nodes", "trainer.accumulate_grad_batches", "trainer.limit_train_batches",
               "trainer.limit_val_batches", "trainer.limit_test_batches", "trainer.overfit_batches",
               "trainer.train_metrics")

GROUPS = ("dataset", "model", "loss", "optimizer", "scheduler", "trainer", "logger")


def _select(cfg, key):
    from omegaconf import OmegaConf

    return OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=False)


_MISSING = object()


def validate(cfg) -> None:
    """Raise :class:`NnmlError` for the first bad value; the message names key, value and what is valid."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for group in GROUPS:
        if group not in cfg:
            raise NnmlError(f"the config has no '{group}' group; keep the defaults list of train.yaml "
                            f"or add {group}=<option>")
    for key, check in SCHEMA.items():
        try:
            value = _select(cfg, key)
        except OmegaConfBaseException as e:
            raise NnmlError(f"{key}: {str(e).splitlines()[0]}") from None
        if value is _MISSING:
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value)
        ok, valid = check(value)
        if not ok:
            raise NnmlError(f"{key}={value!r} is not valid; it must be {valid}")
    val, test = _select(cfg, "dataset.val_fraction"), _select(cfg, "dataset.test_fraction")
    if _is_num(val) and _is_num(test) and val + test >= 1:
        raise NnmlError(f"dataset.val_fraction={val} and dataset.test_fraction={test} add up to {val + test:g}, which "
                        f"leaves no training data; together they must stay below 1, e.g. dataset.val_fraction=0.1 "
                        f"dataset.test_fraction=0.2")
    for key, example in (("model.hidden", "[256,128]"), ("model.channels", "[16,32]")):
        layers = _select(cfg, key)  # layer sizes: torch would build a layer of 0 units and fail on its first batch
        if layers is _MISSING or layers is None:
            continue
        sizes = OmegaConf.to_container(layers) if OmegaConf.is_config(layers) else layers
        sizes = [sizes] if _is_int(sizes) else sizes
        if not isinstance(sizes, list) or not all(_is_int(h) and h > 0 for h in sizes):
            raise NnmlError(f"{key}={sizes!r} is not valid; it must be a list of positive integers, "
                            f"e.g. {key}={example}")
    monitor = str(cfg.trainer.get("monitor", "auto"))
    if monitor != "auto" and not monitor.startswith(("val/", "train/")):
        raise NnmlError(f"trainer.monitor={monitor} is not valid; it must be auto or a metric such as val/acc, "
                        f"val/loss, val/f1, val/r2")


def check_monitor(monitor: str, available: list[str]) -> None:
    if monitor not in available:
        raise NnmlError(f"trainer.monitor={monitor} is not a metric of this task{did_you_mean(monitor, available)}; "
                        f"choose one of: {', '.join(available)}")
