"""Reading a table file once: CSV, TSV or Parquet into columns of cells, keeping only the columns asked for, and
saying where each row came from so that a bad cell can be named by its line.

The format follows the file name: ``.parquet``/``.pq`` is Parquet (read with pyarrow, only the kept columns),
``.tsv``/``.tab`` is tab-separated, anything else comma-separated (``sep`` overrides); ``.gz`` is unpacked on the
fly. CSV/TSV are read by Python's ``csv`` module in one pass, which knows the physical line each row starts on
(quoted fields may span lines), so that a ragged row or a bad cell is reported as ``FILE line N``; Parquet rows
are ``FILE row N`` (1-based data rows). Cells stay as the file gives them: CSV cells as stripped strings, Parquet
cells as numbers or strings. A cell that is empty or one of :data:`MISSING` (the markers pandas reads as
missing) is ``None``. Blank lines are skipped. An empty header name becomes ``Unnamed: I`` (I its 0-based
position), as pandas names the index column that ``DataFrame.to_csv`` writes, so it can be dropped by name.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnml.errors import NnmlError, did_you_mean

# The strings pandas.read_csv reads as missing by default (its STR_NA_VALUES), plus the empty cell.
MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})

PARQUET_SUFFIXES = (".parquet", ".pq")
TAB_SUFFIXES = (".tsv", ".tab")


@dataclass
class Table:
    """The kept columns of one file (name -> list of cells, ``None`` for missing) and where each row starts."""

    path: Path
    header: list[str]
    columns: dict[str, list]
    starts: np.ndarray  # the line (CSV/TSV) or data row (Parquet) of each row, 1-based
    unit: str           # "line" or "row"

    def __len__(self) -> int:
        return len(self.starts)

    def place(self, i: int) -> str:
        """Where row ``i`` (0-based) is: ``data.csv line 7``."""
        return f"{self.path} {self.unit} {int(self.starts[i])}"


def missing(cell) -> bool:
    if cell is None:
        return True
    if isinstance(cell, float):
        return math.isnan(cell)
    return isinstance(cell, str) and cell in MISSING


def as_number(cell) -> float | None:
    """The finite number a cell holds, or None (text, inf, a bool). Missing cells are the caller's to skip."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float, np.integer, np.floating)):
        v = float(cell)
    else:
        try:
            v = float(str(cell).replace("_", "x"))  # float() accepts "1_000"; a table cell with _ is text
        except ValueError:
            return None
    return v if math.isfinite(v) else None


def check_file(path, key: str) -> Path:
    if path is None or str(path).strip() == "":
        raise NnmlError(f"{key} is not set; give {key}=FILE (a .csv, .tsv or .parquet file)")
    p = Path(str(path)).expanduser()
    if not p.exists():
        near = did_you_mean(p.name, [q.name for q in p.parent.iterdir()]) if p.parent.is_dir() else ""
        raise NnmlError(f"{key}={path}: no such file{near}")
    if p.is_dir():
        raise NnmlError(f"{key}={path} is a folder; give a .csv, .tsv or .parquet file")
    return p


def read_table(path, key: str, keep: Callable[[list[str]], list[str]] | None = None,
               sep: str | None = None) -> Table:
    """Read ``path`` once. ``keep(header)`` names the columns to keep (and raises for names the header lacks);
    None keeps all of them."""
    p = check_file(path, key)
    name = p.name.lower().removesuffix(".gz")
    if name.endswith(PARQUET_SUFFIXES):
        return _read_parquet(p, keep)
    if sep is None:
        sep = "\t" if name.endswith(TAB_SUFFIXES) else ","
    return _read_delimited(p, keep, str(sep))


def _unique_header(cells: list[str], p: Path) -> list[str]:
    header = [c.strip() or f"Unnamed: {i}" for i, c in enumerate(cells)]
    seen: set[str] = set()
    for c in header:
        if c in seen:
            raise NnmlError(f"{p} line 1: the header names column '{c}' twice; give every column its own name")
        seen.add(c)
    return header


def _read_delimited(p: Path, keep, sep: str) -> Table:
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rt", newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=sep)
            try:
                first = next(reader)
                while not first:  # blank lines before the header
                    first = next(reader)
            except StopIteration:
                raise NnmlError(f"{p} is empty; a table file needs a header line and at least one row") from None
            header = _unique_header(first, p)
            names = list(header) if keep is None else keep(header)
            index = [header.index(c) for c in names]
            cols: list[list] = [[] for _ in names]
            starts: list[int] = []
            width = len(header)
            line = reader.line_num
            for row in reader:
                start, line = line + 1, reader.line_num
                if not row:
                    continue  # a blank line
                if len(row) != width:
                    raise NnmlError(f"{p} line {start}: {len(row)} fields, but the header has {width}"
                                    f"{_sep_hint(row, sep)}; every line needs one field per column (quote a field "
                                    f"that holds '{sep}')")
                starts.append(start)
                for col, j in zip(cols, index):
                    cell = row[j].strip()
                    col.append(None if cell in MISSING else cell)
    except UnicodeDecodeError as e:
        raise NnmlError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8") from None
    except csv.Error as e:
        raise NnmlError(f"{p} line {reader.line_num}: {e}") from None
    except (OSError, EOFError) as e:
        raise NnmlError(f"{p} could not be read ({e})") from None
    if not starts:
        raise NnmlError(f"{p} has a header but no rows; a table file needs at least one row")
    return Table(p, header, dict(zip(names, cols)), np.asarray(starts, dtype=np.int64), "line")


def _sep_hint(row: list[str], sep: str) -> str:
    return " (a single field: is the file separated by another character? set dataset.sep)" if len(row) == 1 \
        and sep == "," else ""


def _read_parquet(p: Path, keep) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise NnmlError(f"{p}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        pf = pq.ParquetFile(p)
        header = list(pf.schema_arrow.names)
        names = list(header) if keep is None else keep(header)
        table = pf.read(columns=names)
    except NnmlError:
        raise
    except Exception as e:  # pyarrow's ArrowInvalid / OSError for a file that is not Parquet
        raise NnmlError(f"{p} could not be read as Parquet ({str(e).splitlines()[0]})") from None
    if table.num_rows == 0:
        raise NnmlError(f"{p} has no rows; a table file needs at least one row")
    cols = {}
    for c in names:
        cols[c] = [_parquet_cell(v) for v in table.column(c).to_pylist()]
    return Table(p, header, cols, np.arange(1, table.num_rows + 1, dtype=np.int64), "row")


def _parquet_cell(v):
    """Numbers stay numbers; text is stripped; anything else (a bool, a date) becomes its text."""
    if isinstance(v, str):
        v = v.strip()
    elif isinstance(v, bool) or not isinstance(v, (int, float)):
        v = None if v is None else str(v)
    return None if missing(v) else v
