"""New inputs for a trained run, prepared as its training inputs were: rows of numbers for the sets that
:func:`nnml.data.base.split_and_standardize` built (iris, wine, diabetes, moons, digits, ...), and image files for
the image sets among them (digits, MNIST, Fashion-MNIST). What ``nnml predict`` feeds the model.

Rows. A table file (CSV, TSV, Parquet: :mod:`nnml.data.table_files`) or mappings of column -> value. When the
dataset names its inputs (``meta["feature_names"]``: scikit-learn's names, ``sepal length (cm)``, ``pixel_0_0``),
a file with a header is read by those names (other columns, the target's among them, are ignored); a file whose
first line holds only numbers has no header and is read by position. A set without names (moons, xor, function)
reads the columns by position, with or without a header. Every cell must be a number (no missing values: the
built-in sets have none). The numbers are the raw values the builder started from (scikit-learn's own; its
diabetes table is already scaled by scikit-learn), standardized here with the train statistics the run recorded
(``meta["standardization"]``), in float32 as in training, so a test row written back from its raw values gives
the training input bit for bit.

Images (``meta["raw_image"]``: the set's pixel size and value range). Each file is read with Pillow as grey,
inverted when its border is light (its outermost pixels average above mid-grey: dark ink on white paper, where
digits and MNIST draw light ink on black), resized to the set's size by area averaging (Pillow's BOX filter: for
digits exactly the 4x4 block counts the set was made with), scaled to the set's range (digits 0-16, MNIST 0-1)
and standardized like the rows. No centring or cropping: draw the object filling the frame.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from nnml.data.table_files import PARQUET_SUFFIXES, TAB_SUFFIXES, as_number, check_file, missing, read_table
from nnml.errors import NnmlError, did_you_mean


def can_read_rows(meta: dict) -> bool:
    return "standardization" in meta


def standardize(raw: np.ndarray, meta: dict, input_shape) -> torch.Tensor:
    """Raw values (N, features) -> the model's input (N, *input_shape), with the run's train statistics."""
    st = meta["standardization"]
    flat = np.asarray(raw, dtype=np.float32).reshape(len(raw), -1)
    mean = np.asarray(st["mean"], dtype=np.float32)
    std = np.asarray(st["std"], dtype=np.float32)
    out = ((flat - mean) / std).astype(np.float32)
    if st["mode"] == "unit":
        out = np.clip(out, 0.0, 1.0)
    return torch.from_numpy(out.reshape(len(raw), *input_shape))


def width(input_shape) -> int:
    return int(np.prod(input_shape))


# ---------------------------------------------------------------------------------------------- rows

def records_to_raw(records: list[Mapping], meta: dict, input_shape, places: list[str]) -> np.ndarray:
    """Raw values (N, features) of rows given as mappings (a header's names, a DataFrame's records)."""
    names = meta.get("feature_names")
    n = width(input_shape)
    out = np.empty((len(records), n), dtype=np.float64)
    for i, rec in enumerate(records):
        if names:
            lacking = [c for c in names if c not in rec]
            if lacking:
                raise NnmlError(f"{places[i]}: no column '{lacking[0]}'{did_you_mean(lacking[0], list(rec))}; the "
                                f"model reads {_columns_text(names)}")
            cells = [(c, rec[c]) for c in names]
        else:
            cells = list(rec.items())
            if len(cells) != n:
                raise NnmlError(f"{places[i]}: {len(cells)} columns, but the model reads {n} numbers per row (input "
                                f"shape {tuple(input_shape)}), by position")
        out[i] = [_number(v, c, places[i]) for c, v in cells]
    return out


def _columns_text(names: list[str]) -> str:
    shown = ", ".join(f"'{c}'" for c in names[:12])
    return f"the columns {shown}{f', ... ({len(names)} in all)' if len(names) > 12 else ''}"


def _number(cell, column, place: str) -> float:
    label = f"column '{column}'" if isinstance(column, str) else f"value {column + 1}"
    if missing(cell.strip() if isinstance(cell, str) else cell):
        raise NnmlError(f"{place}: {label} is empty; every input needs a number (the built-in sets have no "
                        f"missing values to fill)")
    v = as_number(cell)
    if v is None:
        raise NnmlError(f"{place}: {label} holds {cell!r}, which is not a number")
    return v


def read_rows(path, meta: dict, input_shape, sep: str | None = None) -> tuple[np.ndarray, list[str]]:
    """(raw values, where each row is) of a table file (module docstring: by name, or by position)."""
    p = check_file(path, "--file")
    name = p.name.lower().removesuffix(".gz")
    if sep is None:
        sep = "\t" if name.endswith(TAB_SUFFIXES) else ","
    if not name.endswith(PARQUET_SUFFIXES):
        first = _first_row(p, sep)
        if first and all(as_number(c) is not None for c in first):
            return _read_headerless(p, sep, width(input_shape), input_shape)
    names = meta.get("feature_names")

    def keep(header):
        if names:
            lacking = [c for c in names if c not in header]
            if lacking:
                unit = "row 0 (its schema)" if name.endswith(PARQUET_SUFFIXES) else "line 1"
                raise NnmlError(f"{p} {unit}: no column '{lacking[0]}'{did_you_mean(lacking[0], header)}; the model "
                                f"reads {_columns_text(names)} (or give the numbers without a header, in that order)")
            return list(names)
        if len(header) != width(input_shape):
            raise NnmlError(f"{p} line 1: {len(header)} columns, but the model reads {width(input_shape)} numbers "
                            f"per row (input shape {tuple(input_shape)}), by position")
        return list(header)

    t = read_table(p, "--file", keep, sep)
    cols = list(t.columns)
    places = [t.place(i) for i in range(len(t))]
    records = [{c: t.columns[c][i] for c in cols} for i in range(len(t))]
    return records_to_raw(records, meta, input_shape, places), places


def _opener(p: Path):
    return gzip.open if p.name.lower().endswith(".gz") else open


def _first_row(p: Path, sep: str) -> list[str]:
    try:
        with _opener(p)(p, "rt", newline="", encoding="utf-8-sig") as f:
            for row in csv.reader(f, delimiter=sep):
                if row:
                    return [c.strip() for c in row]
    except (UnicodeDecodeError, csv.Error, OSError, EOFError):
        return []  # read_table says what is wrong with the file
    return []


def _read_headerless(p: Path, sep: str, n: int, input_shape) -> tuple[np.ndarray, list[str]]:
    rows, places = [], []
    with _opener(p)(p, "rt", newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=sep)
        line = 0
        for row in reader:
            start, line = line + 1, reader.line_num
            if not row:
                continue
            place = f"{p} line {start}"
            if len(row) != n:
                raise NnmlError(f"{place}: {len(row)} values, but the model reads {n} per row (input shape "
                                f"{tuple(input_shape)}); a file without a header gives the numbers in order")
            rows.append([_number(c.strip(), j, place) for j, c in enumerate(row)])
            places.append(place)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), n), places


def parse_inline(texts: list[str], n: int, input_shape) -> np.ndarray:
    """Rows typed on the command line, values separated by commas: ``5.1,3.5,1.4,0.2``."""
    out = np.empty((len(texts), n), dtype=np.float64)
    for i, text in enumerate(texts):
        cells = [c.strip() for c in str(text).split(",")]
        place = f"input {i + 1} ({text!r})"
        if len(cells) != n:
            raise NnmlError(f"{place}: {len(cells)} values, but the model reads {n} per row (input shape "
                            f"{tuple(input_shape)}); give them separated by commas, or a table with --file")
        out[i] = [_number(c, j, place) for j, c in enumerate(cells)]
    return out


# ---------------------------------------------------------------------------------------------- images

def raw_images(paths, meta: dict) -> tuple[np.ndarray, list[bool]]:
    """(raw pixel values (N, H*W) on the set's own scale, inverted or not per image) of image files."""
    from PIL import Image

    from nnml.data.image_folder import decode

    spec = meta["raw_image"]
    h, w = (int(v) for v in spec["size"])
    out, flipped = [], []
    for path in paths:
        grey = decode(path, 1, None)[0]  # uint8 (H, W); an unreadable file is one line naming it
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        invert = bool(border.mean() > 127.5)
        if invert:
            grey = 255 - grey
        im = Image.fromarray(grey.astype(np.float32), "F")  # averaged in floats: no rounding to 8 bits on the way
        if im.size != (w, h):
            im = im.resize((w, h), Image.BOX)
        a = np.asarray(im, dtype=np.float64) / 255.0 * float(spec["max_value"])
        out.append(a.reshape(-1))
        flipped.append(invert)
    return np.stack(out) if out else np.zeros((0, h * w)), flipped
