"""The run folder's own files: ``metrics.json`` (final flat metrics), ``metrics.csv`` (per-epoch rows, with the
csv logger) and ``error.txt`` for a failed run. JSON is written atomically so a reader never sees half a file."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from nnml.engine.callbacks import Callback
from nnml.files import atomic_write


def write_json_atomic(path: Path, obj) -> None:
    atomic_write(path, lambda f: (json.dump(obj, f, indent=2, sort_keys=False, default=_jsonable), f.write("\n")),
                 binary=False)


def _jsonable(v):
    if hasattr(v, "item"):
        return v.item()
    return str(v)


def clean_number(v):
    """NaN and infinities are not JSON: write them as null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class CSVLogger(Callback):
    """One row per epoch in ``metrics.csv`` (epoch, step and every epoch metric), appended as it goes."""

    def __init__(self, run_dir: str | Path, filename: str = "metrics.csv"):
        self.path = Path(run_dir) / filename
        self._fields: list[str] | None = None

    def on_fit_start(self, state) -> None:
        if self.path.exists() and state.epoch:
            # A resumed run: keep the rows of finished epochs only, then append.
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= state.epoch]
            if rows:
                self._fields = list(rows[0].keys())
                with open(self.path, "w", newline="") as f:
                    w = csv.DictWriter(f, self._fields)
                    w.writeheader()
                    w.writerows(rows)

    def on_epoch_end(self, state, metrics) -> None:
        row = {"epoch": state.epoch, "step": state.global_step, **metrics}
        new = self._fields is None
        if new:
            self._fields = list(row.keys())
        with open(self.path, "a" if not new else "w", newline="") as f:
            w = csv.DictWriter(f, self._fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
