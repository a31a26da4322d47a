"""``nnml verify RUN``: train a run folder's recorded config again, into a temporary folder, with the thread count,
device and seeds it recorded, and compare every number with the recorded one. What a teacher runs on a student's
run folder: it says whether the folder's numbers come from its config.

What is compared:

- without ``--epochs``: every final metric of ``metrics.json`` (``train/``, ``val/``, ``test/``), ``epochs``,
  ``best_epoch`` and ``stop_reason``; and the per-epoch history, when the run kept one;
- with ``--epochs K``: the first K epochs of the per-epoch history only (the re-run stops after K epochs; a run
  that did not finish can be checked this way too). The history is ``metrics.csv`` (``logger=csv``: full precision)
  or else the TensorBoard event files (float32, as TensorBoard stores them: the re-run's values are rounded to
  float32 the same way); a run with neither has no history to check K epochs against.

Agreement: on the CPU every number must be the same bit for bit (nnml's runs are deterministic there for a given
thread count). On CUDA, kernels that reduce in a varying order (atomics in cuBLAS and cuDNN) make runs differ in
the last bits, which grow over training: numbers agree within ``rtol`` (relative, default :data:`CUDA_RTOL`) plus
:data:`ATOL`; counts (epochs, best epoch, steps) and the stop reason must be equal.

The config is read back through :meth:`RunFolder.load_config` (the trust rule: a ``_target_`` outside torch. and
nnml. is refused unless its prefix is given with ``--allow``).
"""

from __future__ import annotations

import csv
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nnml.config.runfolder import RunFolder
from nnml.engine.callbacks import Callback
from nnml.errors import NnmlError

CUDA_RTOL = 1e-3
ATOL = 1e-7
FINAL_FACTS = ("epochs", "best_epoch", "stop_reason")
COUNTS = {"epochs", "best_epoch", "step", "stop_reason"}


@dataclass
class Setup:
    """How the run was trained, as it recorded it: what the re-run repeats."""

    device: str
    threads: int
    seeds: dict
    epochs: int | None  # --epochs K, or None: the whole run
    notes: list = field(default_factory=list)


class EpochRecorder(Callback):
    """The re-run's per-epoch numbers, as the loop hands them to every logger."""

    def __init__(self):
        self.rows: dict[int, dict] = {}

    def on_epoch_end(self, state, metrics) -> None:
        self.rows[state.epoch] = {"step": state.global_step, **{k: v for k, v in metrics.items()}}


class StopAfter(Callback):
    """Ends the re-run after K epochs. The run's config is left as it was (a shorter ``trainer.max_epochs`` would
    make epoch K the last one, which some tasks and schedules treat apart), so the first K epochs retrace the run's."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_epoch_end(self, state, metrics) -> None:
        from nnml.engine.callbacks import StopTraining

        if state.epoch >= self.epochs:
            raise StopTraining(f"nnml verify --epochs {self.epochs}")


def recorded_setup(run: RunFolder, cfg, epochs: int | None) -> Setup:
    """The device, threads and seeds the run recorded (provenance.json, else metrics.json); NnmlError when the run
    cannot be repeated here."""
    from nnml.run import provenance

    segments = provenance.segments(provenance.read(run.path))
    metrics = run.metrics() or {}
    first = segments[0] if segments else {}
    notes = []
    device = first.get("device") or metrics.get("device")
    run_segments = metrics.get("segments") or []
    threads = first.get("threads") or (run_segments[0].get("threads") if run_segments else None)
    if device is None or threads is None:
        raise NnmlError(f"{run.path} records no device or thread count (no provenance.json, and no metrics.json "
                        f"segments): written by an nnml too old to verify it")
    if int(metrics.get("world_size") or 1) > 1:
        raise NnmlError(f"{run.path} trained with {metrics['world_size']} processes (DDP); nnml verify repeats "
                        f"one-process runs only")
    seeds = {"seed": int(cfg.seed), "data_seed": int(cfg.get("data_seed", cfg.seed))}
    if first.get("seeds") and {k: first["seeds"].get(k) for k in seeds} != seeds:
        notes.append(f"provenance.json records seeds {first['seeds']}, the config {seeds}: the config's are used")
    used = {int(s["threads"]) for s in [*segments, *run_segments] if isinstance(s.get("threads"), int)}
    if len(used) > 1:
        notes.append(f"the run used {' and '.join(str(t) for t in sorted(used))} threads over its segments (a "
                     f"resume, or trainer.num_threads=auto adapting to other processes); repeated with {threads}: "
                     f"the numbers may then differ in their last bits")
    if run.original_config_file.is_file():
        notes.append("a resume changed this run's config (.hydra/config.original.yaml): repeated in one go with the "
                     "config it ended with, which may not retrace its first segment")
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise NnmlError(f"{run.path} trained on {device}; this machine has no CUDA device: verify it on a "
                            f"machine with a GPU")
    elif str(device) != "cpu":
        raise NnmlError(f"{run.path} trained on {device}; nnml verify repeats runs on cpu and cuda")
    return Setup(device=str(device), threads=int(threads), seeds=seeds, epochs=epochs, notes=notes)


def recorded_history(run: RunFolder) -> tuple[str | None, dict[int, dict]]:
    """(source, {epoch: {key: value}}) of the run's per-epoch numbers: metrics.csv, else the TensorBoard events."""
    path = run.path / "metrics.csv"
    if path.is_file():
        rows: dict[int, dict] = {}
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                try:
                    epoch = int(r.pop("epoch"))
                except (KeyError, TypeError, ValueError):
                    continue
                rows[epoch] = {k: _number(v) for k, v in r.items() if k and v not in (None, "")}
        return "metrics.csv", rows
    if any(run.path.glob("events.out.tfevents.*")):
        from nnml.sweep.compare import read_curves

        tags = _event_tags(run.path)
        rows = {}
        for tag, (epochs, values) in read_curves(run.path, tags).items():
            for epoch, value in zip(epochs, values):
                rows.setdefault(int(epoch), {})[tag] = float(value)
        return "tensorboard", rows
    return None, {}


def _event_tags(folder: Path) -> list[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return [t for t in acc.Tags().get("scalars", []) if t not in ("train/step_loss", "train/grad_norm")]


def _number(text):
    try:
        return float(text)
    except ValueError:
        return text


def rerun(run: RunFolder, cfg, trust, setup: Setup, into: Path) -> tuple[dict | None, dict[int, dict]]:
    """Train ``cfg`` again into ``into`` as the run was trained: (final metrics, or None when only K epochs ran;
    per-epoch numbers)."""
    from omegaconf import open_dict

    from nnml.run.train import RunContext, train

    with open_dict(cfg):
        cfg.resume = None
        cfg.trainer.device = setup.device
        cfg.trainer.num_threads = setup.threads
    recorder = EpochRecorder()
    ctx = RunContext(run_dir=into, trust=trust, choices=run.choices(), overrides=run.overrides(),
                     argv=["nnml", "verify", str(run.path)], console="short")
    final = train(cfg, ctx, callbacks=[recorder, *([StopAfter(setup.epochs)] if setup.epochs else [])])
    return (None if setup.epochs is not None else final), recorder.rows


def _equal(a, b, rtol: float, key: str, float32: bool) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str) or key in COUNTS or key.endswith("/step"):
        return a == b
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if float32:
        import numpy as np

        a, b = float(np.float32(a)), float(np.float32(b))
    if rtol == 0:
        return a == b
    return abs(a - b) <= ATOL + rtol * max(abs(a), abs(b))


def compare(recorded_final: dict | None, final: dict | None, history_source: str | None, recorded: dict[int, dict],
            rows: dict[int, dict], rtol: float) -> tuple[int, list[dict]]:
    """(how many numbers were compared, the ones that differ as ``{what, epoch, recorded, rerun}``)."""
    checked, diffs = 0, []
    if final is not None:
        keys = [k for k in recorded_final or {} if k.split("/", 1)[0] in ("train", "val", "test")]
        for key in [*keys, *FINAL_FACTS]:
            a, b = (recorded_final or {}).get(key), final.get(key)
            checked += 1
            if not _equal(a, b, rtol, key, float32=False):
                diffs.append({"what": key, "epoch": "final", "recorded": a, "rerun": b})
    float32 = history_source == "tensorboard"
    for epoch in sorted(rows):
        mine = rows[epoch] if not float32 else {_tb(k): v for k, v in rows[epoch].items()}
        theirs = recorded.get(epoch)
        if theirs is None:
            diffs.append({"what": "(epoch missing from the record)", "epoch": epoch, "recorded": None,
                          "rerun": None})
            continue
        for key, value in mine.items():
            if key not in theirs:
                continue
            checked += 1
            if not _equal(theirs[key], value, rtol, key, float32):
                diffs.append({"what": key, "epoch": epoch, "recorded": theirs[key], "rerun": value})
    return checked, diffs


def _tb(key: str) -> str:
    from nnml.tracking.tensorboard import _tag

    return _tag(key)


def verify(run_dir, allow=(), epochs: int | None = None, rtol: float | None = None, keep: Path | None = None,
           before_rerun=None) -> dict:
    """Re-run ``run_dir`` and compare (module docstring). ``before_rerun(setup)`` is called once the run was
    checked and before it trains (the command says what it is about to do). Returns ``{run, setup, source,
    checked, differences, rtol, folder}``."""
    import shutil

    run = RunFolder(run_dir).require()
    cfg, trust = run.load_config(allow=allow)
    recorded_final = run.metrics()
    if epochs is not None and epochs < 1:
        raise NnmlError(f"--epochs {epochs}: give at least 1")
    if epochs is None and recorded_final is None:
        raise NnmlError(f"{run.path} did not finish (no metrics.json): check its first epochs against its history "
                        f"with --epochs K")
    setup = recorded_setup(run, cfg, epochs)
    source, history = recorded_history(run)
    if epochs is not None:
        if source is None:
            raise NnmlError(f"{run.path} kept no per-epoch history (no metrics.csv, no TensorBoard events): verify "
                            f"it whole, without --epochs")
        have = max(history) if history else 0
        if epochs > have:
            raise NnmlError(f"--epochs {epochs}: {run.path} recorded {have} epochs ({source}); give at most {have}")
    if rtol is None:
        rtol = CUDA_RTOL if setup.device.startswith("cuda") else 0.0
    if before_rerun is not None:
        before_rerun(setup, source)
    folder = Path(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="nnml-verify-"))
    try:
        final, rows = rerun(run, cfg, trust, setup, folder)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    if epochs is not None:
        rows = {e: r for e, r in rows.items() if e <= epochs}
    checked, diffs = compare(recorded_final, final, source, history, rows, rtol)
    return {"run": str(run.path), "setup": setup, "source": source, "checked": checked, "differences": diffs,
            "rtol": rtol, "folder": str(folder) if keep is not None else None, "notes": list(run.notes)}
