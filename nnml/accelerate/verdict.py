"""Whether a variant is usable: its test metric against the original's, on the run's own evaluation, within a
tolerance. A variant that loses more is ``degraded`` (never ``ok``), with the loss in its notes; one whose metric
could not be read is ``unchecked``.

The tolerance (``nnml accelerate --tolerance``, default ``1pt,2%``) is a comma-separated list of allowances; a
variant may lose the largest one that applies:

- ``Npt``: N percentage points (0.01 per point) of a metric that is a fraction where higher is better (accuracy,
  mIoU, F1, R^2 of a model that explains something: the original's value lies in [0, 1]);
- ``N%``: N percent of the original's value, for any metric (a loss, a perplexity, an RMSE as well);
- a plain number: that much in the metric's own units.

The loss is measured in the metric's direction (a higher loss or error is a loss too). The test split is one sample
of the data, so the report also states the binomial standard error of the original's metric for fractions:
differences within about two of those are what another test split could give.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from nnml.errors import NnmlError

DEFAULT = "1pt,2%"


@dataclass(frozen=True)
class Tolerance:
    points: float | None = 1.0
    percent: float | None = 2.0
    absolute: float | None = None
    text: str = DEFAULT

    @classmethod
    def parse(cls, text: str | None) -> Tolerance:
        text = DEFAULT if text in (None, "") else str(text).strip()
        points = percent = absolute = None
        for part in (p.strip().lower() for p in text.split(",") if p.strip()):
            m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*(pt|pts|point|points|%)?", part)
            if m is None:
                raise NnmlError(f"--tolerance {text} is not valid; give allowances separated by commas: Npt "
                                f"(percentage points of a fraction metric), N% (of the original's value) or a "
                                f"number in the metric's units, e.g. --tolerance 1pt,2%")
            value, unit = float(m.group(1)), m.group(2) or ""
            if unit == "%":
                percent = value
            elif unit:
                points = value
            else:
                absolute = value
        if points is None and percent is None and absolute is None:
            raise NnmlError(f"--tolerance {text} names no allowance; e.g. --tolerance 1pt,2%")
        return cls(points, percent, absolute, text)

    def allowed(self, original: float, direction: str) -> float:
        """How much a variant may lose against ``original`` (a metric where ``direction`` is better)."""
        out = []
        if self.points is not None and direction == "max" and 0.0 <= original <= 1.0:
            out.append(self.points / 100.0)
        if self.percent is not None:
            out.append(abs(original) * self.percent / 100.0)
        if self.absolute is not None:
            out.append(self.absolute)
        return max(out) if out else 0.0

    def as_dict(self) -> dict:
        return {"text": self.text, "points": self.points, "percent": self.percent, "absolute": self.absolute}


def loss_of(value: float, original: float, direction: str) -> float:
    """How much worse ``value`` is than ``original`` (negative: better)."""
    return original - value if direction == "max" else value - original


def standard_error(original: float | None, n: int | None, direction: str) -> float | None:
    """Binomial standard error of a fraction metric measured on ``n`` test samples (None for other metrics)."""
    if original is None or not n or direction != "max" or not 0.0 <= original <= 1.0:
        return None
    return math.sqrt(original * (1.0 - original) / n)


def judge(row: dict, original: float | None, metric: str, direction: str, tolerance: Tolerance) -> None:
    """Set ``row``'s status (``ok``, ``degraded`` or ``unchecked``), ``usable``, ``metric_loss``,
    ``allowed_loss`` and ``verdict`` (one line; empty when ok), and put the verdict first in its notes."""
    value = row.get("metric")
    notes = [n for n in str(row.get("notes") or "").split("; ") if n]
    if original is None or value is None or not math.isfinite(float(value)) or not math.isfinite(float(original)):
        why = (f"not checked: the test {metric} of {'the original' if original is None else 'this variant'} "
               f"could not be read")
        row.update(status="unchecked", usable=False, verdict=why)
        notes.insert(0, why)
    else:
        loss = loss_of(float(value), float(original), direction)
        allowed = tolerance.allowed(float(original), direction)
        row.update(metric_loss=loss, allowed_loss=allowed)
        if loss > allowed:
            why = (f"loses {loss:.4f} test {metric} ({float(original):.4f} -> {float(value):.4f}, more than the "
                   f"tolerance {allowed:.4f} = {tolerance.text})")
            row.update(status="degraded", usable=False, verdict=why)
            notes.insert(0, f"DEGRADED: {why}")
        else:
            row.update(status="ok", usable=True, verdict="")
    row["notes"] = "; ".join(notes)
