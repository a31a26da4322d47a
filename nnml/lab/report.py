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
