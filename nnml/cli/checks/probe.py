"""One batch through your own model and loss before the run folder exists.

The signature checks (:mod:`nnml.cli.checks.semantic`) see a config; they cannot see what your code returns. For
the supervised task (``task=auto``) with a model or loss of your own (a ``_target_`` outside ``nnml.`` and
``torch.``), this builds the data, the task and its model, loss and optimizer exactly as the run will (on the CPU),
puts a few training rows through the model and the loss, and refuses in one line:

- a model that fails on the batch, or returns something other than a tensor of shape [batch, outputs] (one score
  per class, or one value per regression target);
- a loss that fails, returns something other than a tensor, returns more than one number
  (``my_losses.unreduced returned shape [16]; a loss must return a scalar (did you forget .mean()?)``), or a
  number that does not depend on the model's outputs (nothing would train).

The data is built once per command (a sweep's jobs share it). Only data that is cheap to build is probed: the
built-in sets of scikit-learn and the synthetic ones, and ``dataset=csv`` files up to 10 MB. MNIST and
Fashion-MNIST (a download, 60,000 images), image folders (every image decoded), text, MNIST-1D and datasets of
your own are skipped: their first training batch finds the same faults, after the run folder exists.
"""

from __future__ import annotations

import json
from pathlib import Path

from nnml.errors import NnmlError

SUPERVISED = "nnml.tasks.supervised.task.SupervisedTask"
CHEAP = {f"nnml.data.sklearn_sets.{n}" for n in ("digits", "iris", "wine", "breast_cancer", "diabetes")} | \
        {f"nnml.data.synthetic.{n}" for n in ("moons", "circles", "spirals", "xor", "function")}
TABLE = "nnml.data.tabular.table"
TABLE_LIMIT_BYTES = 10 * 2**20
ROWS = 16  # enough to see a per-row loss; small enough to cost nothing


def _own(node) -> str | None:
    """The ``_target_`` of ``node`` when it is the user's own code, else None."""
    target = str(node.get("_target_", "")) if node is not None and hasattr(node, "get") else ""
    return target if target and not target.startswith(("nnml.", "torch.")) else None


def skip_reason(cfg) -> str | None:
    """Why the probe does not run for ``cfg`` (None: it runs)."""
    task = cfg.get("task")
    task_target = str(task.get("_target_", SUPERVISED)) if task is not None else SUPERVISED
    if task_target != SUPERVISED:
        return "not the supervised task"
    if not (_own(cfg.get("model")) or _own(cfg.get("loss"))):
        return "no model or loss of your own"
    ds = cfg.get("dataset")
    target = str(ds.get("_target_", "")) if ds is not None else ""
    if target in CHEAP:
        return None
    if target == TABLE:
        path = Path(str(ds.get("path") or ""))
        if path.is_file() and path.stat().st_size <= TABLE_LIMIT_BYTES:
            return None
        return "the table file is over 10 MB (or missing: the run says so)"
    return f"dataset {target or '?'} is not cheap to build"


def probe(cfg, trust, cache: dict | None = None) -> bool:
    """Run the one-batch check for ``cfg`` when it applies (module docstring); True when it ran. ``cache``: the
    data built so far by this command, by dataset config."""
    if skip_reason(cfg) is not None:
        return False
    import warnings

    import torch
    from omegaconf import OmegaConf

    from nnml.config.seeds import data_seed
    from nnml.run.build import build_data

    cache = {} if cache is None else cache
    key = json.dumps([OmegaConf.to_container(cfg.dataset, resolve=True), data_seed(cfg)], sort_keys=True, default=str)
    if key not in cache:
        cache[key] = build_data(cfg.dataset, seed=data_seed(cfg), trust=trust)
    data = cache[key]
    if data.task not in ("classification", "regression"):
        return False
    rng, threads = torch.get_rng_state(), torch.get_num_threads()
    with warnings.catch_warnings():  # the run shows the user's warnings once; the probe adds none
        warnings.simplefilter("ignore")
        try:
            torch.set_num_threads(1)  # 16 rows: thread start-up and other processes' load would cost more
            _probe(cfg, trust, data)
        finally:
            torch.set_rng_state(rng)  # the check leaves no trace in what the run draws
            torch.set_num_threads(threads)
    return True


def _probe(cfg, trust, data) -> None:
    from nnml.run.build import Builder, build_task

    task = build_task(cfg, data, trust)
    builder = Builder(cfg, data, "cpu", seed=int(cfg.seed), trust=trust)
    model_target = _own(cfg.get("model")) or str(cfg.model.get("_target_", "the model"))
    _guarded(lambda: task.setup(builder), f"model {model_target} or its loss could not be built")
    n = max(1, min(ROWS, int(cfg.dataset.get("batch_size") or ROWS), len(data.x_train)))
    loss_target = str(cfg.loss.get("_target_", "")) if cfg.get("loss") is not None else ""
    _check_run(task, data.x_train[:n], data.y_train[:n], model_target, data, loss_target)


def _guarded(step, what: str):
    try:
        return step()
    except NnmlError:
        raise
    except Exception as e:
        cause = e.__cause__ if isinstance(e.__cause__, Exception) else e
        if isinstance(cause, NnmlError):
            raise cause from None
        raise NnmlError(f"{what}: {_first_line(cause)}") from None


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _shape(t) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _check_run(task, x, y, model_target: str, data, loss_target: str) -> None:
    import torch

    model = task.modules["model"]
    model.train()
    n, k = len(x), int(data.num_outputs)
    out = _guarded(lambda: model(x), f"model {model_target} failed on a batch of {n} inputs of shape "
                                     f"{list(x.shape[1:])}")
    what = "one score per class" if data.task == "classification" else "one value per target"
    if not isinstance(out, torch.Tensor):
        raise NnmlError(f"model {model_target} returned a {type(out).__name__}, not a tensor; the supervised task "
                        f"needs one tensor of shape [{n}, {k}] ({what})")
    if tuple(out.shape) != (n, k):
        raise NnmlError(f"model {model_target} returned shape {_shape(out)} for a batch of {n} inputs of shape "
                        f"{list(x.shape[1:])}; the supervised task needs [{n}, {k}] ({what} of dataset {data.name}; "
                        f"a constructor that names num_outputs is given {k})")
    own = getattr(task, "_own_name", "")
    name = own or f"loss {task.objective() or loss_target}"
    loss = _guarded(lambda: task._loss_fn(out.float(), y),
                    f"{name} failed on outputs of shape {_shape(out)} and targets of shape {_shape(y)} ({y.dtype})")
    if not isinstance(loss, torch.Tensor):
        raise NnmlError(f"{name} returned a {type(loss).__name__}, not a tensor; a loss must return a scalar tensor "
                        f"computed from the outputs (a Python number carries no gradient)")
    if loss.numel() != 1:
        raise NnmlError(f"{name} returned shape {_shape(loss)}; a loss must return a scalar (did you forget "
                        f".mean()?)")
    if out.requires_grad and not loss.requires_grad:
        raise NnmlError(f"{name} returned a number that does not depend on the model's outputs (no gradient): "
                        f"nothing would train; compute it with torch operations on the outputs, without .item(), "
                        f".detach() or NumPy in between")
