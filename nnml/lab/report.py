"""What every lab shares: reading its config against defaults, and writing figures, CSV tables and rich tables.

Figures go to ``<out_dir>/<name>.png`` and to TensorBoard (a ``SummaryWriter`` on ``out_dir``), tables
to ``<out_dir>/<name>.csv``. Matplotlib is switched to the Agg backend, since labs run headless.
"""

from __future__ import annotations

import csv
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers or in CI; must precede pyplot's import
import matplotlib.pyplot as plt  # noqa: E402
from rich.table import Table  # noqa: E402

from nnml.errors import NnmlError, bad_choice, did_you_mean  # noqa: E402


def plain(value: Any) -> Any:
    """A DictConfig/ListConfig (or any mapping/sequence) as plain dicts and lists, for JSON and numbers."""
    if isinstance(value, Mapping) or (hasattr(value, "items") and hasattr(value, "keys")):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, (str, bytes))):
        return [plain(v) for v in value]
    return value


def options(lab: str, cfg: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The lab's settings: ``defaults`` updated by ``cfg``; an unknown key is refused with the valid ones."""
    given = plain(cfg) if cfg is not None else {}
    for key in given:
        if key not in defaults:
            raise NnmlError(f"'{key}' is not a key of lab {lab}{did_you_mean(key, defaults)}; "
                            f"valid keys: {', '.join(defaults)}")
    merged = {**plain(defaults), **given}
    for key, value in merged.items():
        if isinstance(defaults[key], dict) and not isinstance(value, dict):
            raise NnmlError(f"{key} of lab {lab} must be a mapping, got {value!r}")
    return merged


# What each kind of value accepts, for the messages: "steps=-5 is not valid for lab trajectories; expected ..."
KINDS = {
    "int": "an integer",
    "pos_int": "a positive integer",
    "pos_int2": "an integer >= 2",
    "float": "a number",
    "pos_float": "a positive number",
    "nonneg_float": "a number >= 0",
    "unit_float": "a number in [0, 1)",
    "pos_ints": "a non-empty list of positive integers, e.g. [4,16,64]",
    "pos_floats2": "two positive numbers [low, high] with low <= high, e.g. [5,50]",
    "floats2": "two numbers [x, y], e.g. [-1.2,1]",
}


def _number(value: Any, integer: bool):
    # bool is an int to Python, but `steps=true` is a typo, not 1; strings ("abc") are refused too
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if integer:
        return int(value) if float(value).is_integer() else None
    return float(value) if math.isfinite(value) else None


def _convert(kind: str, value: Any):
    """``value`` as ``kind`` (see KINDS), or None when it is not one."""
    if kind in ("int", "pos_int", "pos_int2"):
        v = _number(value, integer=True)
        least = {"int": None, "pos_int": 1, "pos_int2": 2}[kind]
        return v if v is not None and (least is None or v >= least) else None
    if kind in ("float", "pos_float", "nonneg_float", "unit_float"):
        v = _number(value, integer=False)
        ok = v is not None and {"float": True, "pos_float": v is not None and v > 0,
                                "nonneg_float": v is not None and v >= 0,
                                "unit_float": v is not None and 0 <= v < 1}[kind]
        return v if ok else None
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        return None
    if kind == "pos_ints":
        items = [_convert("pos_int", v) for v in value]
        return items if items and None not in items else None
    if kind == "pos_floats2":
        items = [_convert("pos_float", v) for v in value]
        return items if len(items) == 2 and None not in items and items[0] <= items[1] else None
    if kind == "floats2":
        items = [_convert("float", v) for v in value]
        return items if len(items) == 2 and None not in items else None
    raise KeyError(kind)


def checked(lab: str, opts: dict[str, Any], spec: Mapping[str, str], nullable: Sequence[str] = ()) -> dict[str, Any]:
    """``opts`` with each key of ``spec`` converted to its kind; a bad value -> NnmlError naming key, value, kind."""
    for key, kind in spec.items():
        value = opts[key]
        if value is None and key in nullable:
            continue
        converted = _convert(kind, value)
        if converted is None:
            shown = "[" + ",".join(map(str, value)) + "]" if isinstance(value, (list, tuple)) else value
            also = " or null" if key in nullable else ""
            raise NnmlError(f"{key}={shown} is not valid for lab {lab}; expected {KINDS[kind]}{also}")
        opts[key] = converted
    return opts


def check_choice(key: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise bad_choice(key, value, choices)


def check_choices(key: str, values: Any, choices: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    for value in values:
        check_choice(key, value, choices)
    return list(values)


class LabOutput:
    """Writes one lab run's PNG figures, CSV tables and TensorBoard figures into ``out_dir``."""

    def __init__(self, out_dir: pathlib.Path):
        self.out_dir = pathlib.Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.files: list[str] = []
        self._writer = None

    def figure(self, fig, name: str) -> None:
        path = self.out_dir / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        self.files.append(path.name)
        if self._writer is None:
            # imported here: torch.utils.tensorboard costs ~1.5 s and is needed only once a figure exists
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.out_dir))
        self._writer.add_figure(name, fig, close=False)
        plt.close(fig)

    def csv(self, name: str, rows: list[dict[str, Any]]) -> None:
        path = self.out_dir / f"{name}.csv"
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        self.files.append(path.name)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fmt(value: Any) -> str:
    """A table cell: floats in 4 significant digits, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def rich_table(title: str, rows: list[dict[str, Any]], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption)
    for column in rows[0]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(fmt(v) for v in row.values()))
    return table


def finite(value: float) -> float | None:
    """JSON has no NaN or infinity: such numbers become null."""
    return value if math.isfinite(value) else None
