"""``signals.jsonl`` in the run folder: what the loop reported, one JSON object a line, for ``nnml doctor``.

A line ``{"kind": "step", "step": s, "epoch": e, ...}`` holds a logging step's scalars (``train/loss``, ``lr``,
``grad_norm`` and with ``trainer.layer_stats`` the per-layer ``layers/...`` statistics); a line ``{"kind": "epoch",
...}`` an epoch's metrics (``train/*``, ``val/*``, ``lr``). Written whatever the logger (``logger=none`` too), only
by the writing rank; a resumed run drops the lines after its checkpoint's step and appends. A line cut short by a
killed process is skipped by :func:`read_signals`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from nnml.engine.callbacks import Callback

FILENAME = "signals.jsonl"


def _clean(values: dict) -> dict:
    """JSON has no NaN or inf: they are written as the strings "nan", "inf", "-inf" (a NaN gradient is evidence)."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in values.items()}


class SignalsFile(Callback):
    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / FILENAME
        self._file = None

    def on_fit_start(self, state) -> None:
        kept = []
        if state.global_step and self.path.is_file():
            kept = [r for r in read_signals(self.path) if r.get("step", 0) <= state.global_step]
        self._file = open(self.path, "w")
        for row in kept:
            self._write(row)

    def _write(self, row: dict) -> None:
        self._file.write(json.dumps(_clean(row)) + "\n")

    def on_train_log(self, state, scalars) -> None:
        if self._file is not None:
            self._write({"kind": "step", "step": state.global_step, "epoch": state.epoch, **scalars})

    def on_epoch_end(self, state, metrics) -> None:
        if self._file is not None:
            self._write({"kind": "epoch", "step": state.global_step, "epoch": state.epoch, **metrics})
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_signals(path: str | Path) -> list[dict]:
    """The rows of a signals file (strings "nan"/"inf" back to floats); [] when there is none."""
    rows = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # the last line of a killed run
        rows.append({k: float(v) if v in ("nan", "inf", "-inf") else v for k, v in row.items()})
    return rows
