"""What a task may do besides the core the loop calls (:class:`nnml.tasks.base.Task`): each capability is a small
protocol, found by the method's presence. The commands that use one ask ``isinstance(task, Predicts)`` (or the
helpers below) instead of calling a default that raises.

==========================  ==========================================  ======================================
protocol                    method                                      used by
==========================  ==========================================  ======================================
:class:`StepsValidation`    ``validation_step(batch, ctx, metrics)``    ``Task.evaluate``'s per-batch default
:class:`Predicts`           ``predict(inputs, options) -> rows``        ``nnml predict``
:class:`NamesObjective`     ``objective() -> str | None``               the run header, ``nnml summary``
:class:`EpochArtifacts`     ``epoch_artifacts(epoch, ctx) -> dict``     the trackers (TensorBoard, figures/)
:class:`FinalArtifacts`     ``final_artifacts(ctx) -> dict``            the trackers, after the test
:class:`HasExampleInputs`   ``example_inputs(data, split, n) -> tuple`` ``nnml accelerate`` (timing, export)
:class:`AddsMetrics`        ``extra_metrics() -> dict``                 metrics.json
:class:`Records`            ``records(split, ctx) -> dict | None``,     ``predictions/<split>.npz``, intervals,
                            ``records_spec(split) -> dict``             ``nnml compare A B`` (paired tests)
:class:`Regularizes`        ``without_regularization() -> None``        ``trainer.overfit_batches`` (debug=overfit)
==========================  ==========================================  ======================================

Records are the per-sample values a task's metrics are computed from (``nnml/tasks/<track>/records.py``): at the
end of a run the loop evaluates val and test with ``ctx.recording`` true, the task keeps its records while it
computes its metrics (no second pass), and the run saves them with the spec that names how the metrics are
recomputed from them (:mod:`nnml.run.records`). :class:`KeepsRecords` does the keeping for tasks that evaluate
batch by batch.
"""

from __future__ import annotations

import contextlib
from typing import Protocol, runtime_checkable


@runtime_checkable
class StepsValidation(Protocol):
    def validation_step(self, batch, ctx, metrics) -> None:
        """One evaluation batch (under ``torch.inference_mode`` and autocast): update ``metrics``."""


@runtime_checkable
class Predicts(Protocol):
    def predict(self, inputs: list[str], options: dict) -> list[dict]:
        """``nnml predict RUN_DIR INPUT...``: one row per input (a dict of plain values). ``options`` holds what the
        user gave: ``out`` (a path), ``beam`` (int), ``top`` (int), ``file`` (a table, when the task's
        ``file_inputs`` attribute is ``"table"``; tasks without it read ``--file`` as one input per line), ``records``
        (rows as mappings, from the Python API) with their ``places``. Called on a restored run, modules in eval
        mode. Raise :class:`nnml.errors.NnmlError` with one line for input the task cannot read."""


@runtime_checkable
class NamesObjective(Protocol):
    def objective(self) -> str | None:
        """What training minimises, in a few words for the run header (after ``setup``); None: the ``loss``
        config names it."""


@runtime_checkable
class EpochArtifacts(Protocol):
    def epoch_artifacts(self, epoch: int, ctx) -> dict:
        """After each epoch's validation: ``{"figures": {tag: Figure}, "images": {tag: CHW tensor}, "text": {tag:
        str}, "embeddings": {tag: (matrix, labels, label_images)}}`` for the trackers, or {}. Keep it cheap or
        periodic (every N epochs, a key of the task)."""


@runtime_checkable
class FinalArtifacts(Protocol):
    def final_artifacts(self, ctx) -> dict:
        """The same as :class:`EpochArtifacts`, once after the test evaluation on the best weights."""


@runtime_checkable
class HasExampleInputs(Protocol):
    def example_inputs(self, data, split: str, n: int) -> tuple:
        """The positional inputs of the primary module for the first ``n`` samples of ``split`` (what ``nnml
        accelerate`` times, exports and counts FLOPs on)."""


@runtime_checkable
class AddsMetrics(Protocol):
    def extra_metrics(self) -> dict:
        """Plain values to add to metrics.json after the test (a metric's signature, a path to a sample grid)."""


@runtime_checkable
class Records(Protocol):
    def records(self, split: str, ctx) -> dict | None:
        """The per-sample records (name -> NumPy array, one row per sample, rows of samples of the split with their
        ``index`` in it) kept by the last evaluation of ``split`` made while ``ctx.recording`` was true; None when
        it kept none."""

    def records_spec(self, split: str) -> dict:
        """How the metrics of ``split`` are recomputed from its records: ``{"kind": KIND, **parameters}`` with a
        kind of :mod:`nnml.run.records` (classification, regression, segmentation, translation, tagging, ranking,
        vae, probe)."""


class KeepsRecords:
    """Keeps the records of an evaluation batch by batch: run the evaluation inside ``with
    self.evaluation_records(split, ctx):`` and call :meth:`keep_records` with each batch's records while
    :attr:`recording` (their ``index`` is replaced by the samples' positions in the split)."""

    @contextlib.contextmanager
    def evaluation_records(self, split: str, ctx):
        self._record_parts = [] if getattr(ctx, "recording", False) else None
        self._record_seen = 0
        try:
            yield
            self.end_records(split)
        finally:
            self._record_parts = None

    @property
    def recording(self) -> bool:
        return getattr(self, "_record_parts", None) is not None

    def keep_records(self, ctx, rec: dict) -> None:
        n = len(rec["index"])
        rec["index"] = ctx.positions(self._record_seen, n)
        self._record_seen += n
        self._record_parts.append(rec)

    def end_records(self, split: str) -> None:
        if self.recording:
            from nnml.stats import concat_records

            self.keep_split_records(split, concat_records(self._record_parts) if self._record_parts else None)
        self._record_parts = None

    def keep_split_records(self, split: str, rec: dict | None) -> None:
        """Records of a whole split computed at once (their ``index`` already the split positions)."""
        kept = getattr(self, "_kept_records", None)
        if kept is None:
            kept = self._kept_records = {}
        kept[split] = rec

    def records(self, split: str, ctx) -> dict | None:
        return (getattr(self, "_kept_records", None) or {}).get(split)


def records_of(task, split: str, ctx) -> dict | None:
    return task.records(split, ctx) if isinstance(task, Records) else None


def objective_of(task) -> str | None:
    return task.objective() if isinstance(task, NamesObjective) else None


def example_inputs_of(task, data, split: str, n: int) -> tuple:
    """The task's own example inputs, or the data's ``x`` (what a model of ``(x, y)`` data takes)."""
    if isinstance(task, HasExampleInputs):
        return task.example_inputs(data, split, n)
    return (data.split(split)[0][:n],)


def extra_metrics_of(task) -> dict:
    return task.extra_metrics() if isinstance(task, AddsMetrics) else {}


def epoch_artifacts_of(task, epoch: int, ctx) -> dict:
    return task.epoch_artifacts(epoch, ctx) if isinstance(task, EpochArtifacts) else {}


def final_artifacts_of(task, ctx) -> dict:
    return task.final_artifacts(ctx) if isinstance(task, FinalArtifacts) else {}


@runtime_checkable
class Regularizes(Protocol):
    def without_regularization(self) -> None:
        """Turn off what the task's step adds to fight overfitting (augmentation, mixup, penalties), after
        ``setup``: ``trainer.overfit_batches`` fits a few batches perfectly, which regularization prevents."""


def without_regularization(task) -> None:
    """A task ready to overfit a few batches: every dropout of its modules off (``p = 0``: dropout layers,
    recurrent layers' dropout between layers, attention dropout) and its step's own regularizers off
    (:class:`Regularizes`)."""
    from torch import nn

    for module in task.modules.values():
        for m in module.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.p = 0.0
            elif isinstance(m, (nn.RNNBase, nn.MultiheadAttention)):
                m.dropout = 0.0
    if isinstance(task, Regularizes):
        task.without_regularization()
