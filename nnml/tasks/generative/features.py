"""The feature network of the Frechet distance: a classifier trained on the same dataset, whose logits are the
features (and whose predictions give the sample class histogram).

``task.feature_net``:
- ``auto``: nnml trains one (an MLP of two hidden layers of 256, dropout 0.2, Adam at 1e-3 for ``EPOCHS``
  epochs on the train split, seeded; on digits 96.7% test accuracy, the classifier of the reference numbers in
  docs/homework4.md) the first time and caches it in ``<cache>/feature_nets/`` as
  ``<dataset>-<hash of the dataset config and seed>.pt`` (``<cache>``: ``$NNML_CACHE``, default
  ``~/.cache/nnml``); later runs on the same data load it.
- a run folder of ``nnml train`` on the same dataset (a classification run): its best checkpoint.
- ``identity``: the data itself (2-D points).
Its own test accuracy goes into metrics.json (``test/feature_acc``), so a distance is read with the classifier that
measured it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from nnml.errors import NnmlError

EPOCHS = 20
VERSION = 2  # bump when the recipe changes: old cache entries are then not reused


class FeatureNet(nn.Module):
    """Logits of a frozen classifier, as an ``nn.Module`` with ``num_features`` (what torchmetrics'
    FrechetInceptionDistance accepts as a custom ``feature``)."""

    def __init__(self, classifier: nn.Module, num_features: int, test_acc: float = float("nan"), source: str = ""):
        super().__init__()
        self.classifier = classifier.eval()
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        self.num_features = int(num_features)
        self.test_acc = float(test_acc)
        self.source = source

    def train(self, mode: bool = True):
        return super().train(False)  # always in eval mode (dropout off)

    def forward(self, x):
        return self.classifier(x).float()


class Identity(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim
        self.test_acc = float("nan")
        self.source = "identity"

    def forward(self, x):
        return x.reshape(len(x), -1).float()


def _classifier(data) -> nn.Module:
    # An MLP rather than the CNN: its logits are on the scale of the reference space (train vs test 0.31
    # here, 0.35 there); a CNN of 97.8% gave logits twice as spread, and every distance about twice as large.
    from nnml.models.mlp import MLP

    return MLP(data.input_shape, data.num_outputs, hidden=[256, 256], dropout=0.2)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    model.eval()
    hits = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return hits / max(1, len(x))


def train_classifier(data, seed: int, epochs: int = EPOCHS, batch_size: int = 64, lr: float = 1e-3) -> nn.Module:
    """A classifier of ``data`` trained with Adam and a cosine schedule; every random choice follows ``seed``."""
    g = torch.Generator().manual_seed(seed)
    # Possibly called lazily from inside an evaluation (inference mode): grads on, and the caller's RNG untouched.
    with torch.inference_mode(False), torch.enable_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _classifier(data)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * -(-len(data.x_train) // batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        x, y = data.x_train, data.y_train
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), batch_size):
                ix = order[i : i + batch_size]
                loss = nn.functional.cross_entropy(model(x[ix]), y[ix])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
    return model.eval()


def cache_root() -> Path:
    return Path(os.environ.get("NNML_CACHE", "~/.cache/nnml")).expanduser() / "feature_nets"


def cache_path(data, dataset_cfg: dict, seed: int) -> Path:
    keep = {k: v for k, v in sorted(dataset_cfg.items()) if k not in ("batch_size", "eval_batch_size", "loader",
                                                                      "num_workers", "pin_memory", "root")}
    key = json.dumps({"dataset": keep, "seed": seed, "version": VERSION}, sort_keys=True, default=str)
    return cache_root() / f"{data.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt"


def auto_feature_net(data, dataset_cfg: dict, seed: int, log=print) -> FeatureNet:
    """The cached classifier of this dataset config and seed, trained and saved on first use."""
    path = cache_path(data, dataset_cfg, seed)
    with torch.random.fork_rng(devices=[]):  # building it draws initial weights: keep the caller's RNG as it was
        model = _classifier(data)
    if path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["state"])
            return FeatureNet(model, data.num_outputs, saved["test_acc"], str(path))
        except Exception as e:  # a torn or stale cache entry: train again rather than fail the run
            log(f"feature net cache {path} is unreadable ({type(e).__name__}); training it again")
    log(f"training the feature classifier of the Frechet distance once ({EPOCHS} epochs); cached at {path}")
    t0 = time.perf_counter()
    model = train_classifier(data, seed)
    acc = accuracy(model, data.x_test, data.y_test)
    log(f"feature classifier trained in {time.perf_counter() - t0:.1f} s: test accuracy {acc:.4f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save({"state": model.state_dict(), "test_acc": acc, "dataset": dict(dataset_cfg), "seed": seed}, tmp)
    os.replace(tmp, path)
    return FeatureNet(model, data.num_outputs, acc, str(path))


def run_feature_net(run_dir: str, data, dataset_cfg: dict, allow=()) -> FeatureNet:
    """The best model of a finished classification run on the same dataset (same builder and keys), rebuilt from
    the run's saved config (read back as data: nnml/config/runfolder.py) and checkpoint."""
    from nnml.config.runfolder import RunFolder
    from nnml.config.targets import import_object, instantiate
    from nnml.engine.checkpoint import load_checkpoint

    folder = RunFolder(run_dir, role="task.feature_net").require("give a classification run on the same dataset")
    ckpt_path = folder.checkpoint("best")
    if not ckpt_path.is_file():
        raise NnmlError(f"task.feature_net={run_dir} is not a finished nnml run (it has no checkpoints/best.pt)")
    cfg, trust = folder.load_config(allow=allow)
    theirs = dict(cfg.get("dataset") or {})
    for key in ("_target_", "standardize", "val_fraction", "test_fraction", "n_samples"):
        if theirs.get(key) != dataset_cfg.get(key):
            raise NnmlError(f"task.feature_net={run_dir} was trained with dataset.{key}={theirs.get(key)}, this run "
                            f"has dataset.{key}={dataset_cfg.get(key)}: the feature classifier must see the same data")
    task = (cfg.get("task") or {}).get("_target_", "nnml.tasks.supervised.task.SupervisedTask")
    if task != "nnml.tasks.supervised.task.SupervisedTask" or data.task != "classification":
        raise NnmlError(f"task.feature_net={run_dir} is a run of {task}; it must be a classification run (task=auto)")
    params = inspect.signature(import_object(str(cfg.model._target_), trust)).parameters
    facts = {k: v for k, v in data.facts().items() if k in params and k not in cfg.model}
    model = instantiate(cfg.model, key="task.feature_net's model", trust=trust, **facts)
    ckpt = load_checkpoint(ckpt_path)
    modules = ckpt.get("modules") or {"model": ckpt["model"]}
    model.load_state_dict(modules.get("model") or next(iter(modules.values())))
    acc = accuracy(model, data.x_test, data.y_test)
    return FeatureNet(model, data.num_outputs, acc, str(folder.path))


def check_run_feature_net(spec: str, allow=()) -> None:
    """When ``spec`` is a run folder: its config passes the trust rule and its best checkpoint holds only tensors
    and plain data (mapped, not read), or one line says why not. Cheap, so a training run checks it at set-up."""
    from nnml.config.runfolder import RunFolder
    from nnml.engine.checkpoint import load_checkpoint

    if spec in ("auto", "identity") or not Path(spec).expanduser().is_dir():
        return
    folder = RunFolder(spec, role="task.feature_net").require("give a classification run on the same dataset")
    folder.load_config(allow=allow)
    if folder.checkpoint("best").is_file():
        load_checkpoint(folder.checkpoint("best"), mmap=True)


def build_feature_net(spec: str, data, dataset_cfg: dict, seed: int, log=print, allow=()) -> nn.Module:
    if data.task == "points2d" or spec == "identity":
        return Identity(int(torch.tensor(data.input_shape).prod()))
    if data.task != "classification":
        raise NnmlError(f"task.feature_net={spec}: the Frechet distance needs labelled data (a classifier's "
                        f"features) or task.feature_net=identity; dataset {data.name} is {data.task}")
    if spec == "auto":
        return auto_feature_net(data, dataset_cfg, seed, log)
    if not Path(spec).expanduser().is_dir():
        raise NnmlError(f"task.feature_net={spec} is not valid; choose auto, identity or the folder of a "
                        f"classification run on the same dataset")
    return run_feature_net(spec, data, dataset_cfg, allow)
