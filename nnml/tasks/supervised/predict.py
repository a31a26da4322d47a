"""``nnml predict`` for classification and regression runs: new inputs prepared as the run's training inputs were,
the model's outputs turned into a class with its probabilities, or a value on the target's own scale.

What a run reads depends on its data (the builder's ``meta``):

- ``dataset=csv``: rows of a table file (``--file rows.csv``; the target column may be absent, other extra
  columns are ignored), encoded with the train split's statistics (:func:`nnml.data.tabular.transform_rows`).
- the built-in sets of numbers (iris, wine, breast_cancer, diabetes, moons, ...): rows of a table file whose
  columns are the feature names, or numbers by position (no header), or one row typed as ``5.1,3.5,1.4,0.2``
  (:mod:`nnml.data.new_inputs`).
- digits, MNIST, Fashion-MNIST: image files (grey, inverted when the background is light, resized to the set's
  size by area averaging, scaled to its range) or rows of pixel values as above.
- ``dataset=image_folder``: image files or folders of them, converted, resized and standardized as in training
  (:func:`nnml.data.image_folder.transform_images`).

A class's probability is the softmax of the model's outputs (a sigmoid per class under ``loss=bce_with_logits``,
which trains one-vs-rest scores). Each row names its input (the file and line, the image, the typed row); the
predicted column is named after the target column of a ``dataset=csv`` run (``kind``), else ``label`` or
``value``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from nnml.errors import NnmlError

BATCH = 1024
DEFAULT_TOP = 3


def input_form(data) -> str:
    """What the run's model reads: ``table`` (dataset=csv), ``images`` (image_folder), ``pixels`` (digits,
    MNIST: images or rows), ``rows`` (other built-in sets), or ``""`` (nothing recorded to prepare inputs with)."""
    meta = getattr(data, "meta", {}) or {}
    if "tabular" in meta:
        return "table"
    if "image" in meta:
        return "images"
    if "raw_image" in meta and "standardization" in meta:
        return "pixels"
    if "standardization" in meta:
        return "rows"
    return ""


def reads_table_file(data) -> bool:
    """``--file`` is a table of rows (True) or a list of inputs, one per line (image files)."""
    return input_form(data) in ("table", "rows", "pixels")


def predict(task, inputs: list[str], options: dict) -> list[dict]:
    data = task.data
    x, places, extra = prepare(data, list(inputs), options)
    outputs = forward(task.modules[task.primary], x, task.device)
    rows = describe(task, outputs, places, options.get("top"))
    for row, more in zip(rows, extra):
        row.update(more)
    if options.get("out"):
        probs = probabilities(task, outputs) if task.kind == "classification" else None
        write_csv(rows, Path(options["out"]), probs, list(data.class_names))
    return rows


# ---------------------------------------------------------------------------------------------- inputs

def prepare(data, inputs: list[str], options: dict) -> tuple[torch.Tensor, list[str], list[dict]]:
    """(model inputs, where each came from, extra columns per row) of what the user gave."""
    from nnml.data import new_inputs as NI

    form = input_form(data)
    meta, shape = data.meta, tuple(data.input_shape)
    records, file = options.get("records"), options.get("file")
    if not form:
        raise NnmlError(f"dataset {data.name} records no statistics to prepare new inputs with "
                        f"(meta['standardization'], as split_and_standardize writes it); nnml predict reads the "
                        f"built-in sets, dataset=csv and dataset=image_folder (nnml eval evaluates any run)")
    if form == "table":
        from nnml.data.tabular import read_records, transform_rows

        target = meta["tabular"]["target"]["name"]
        if inputs:
            cols = ", ".join(s["name"] for s in meta["tabular"]["columns"][:12])
            raise NnmlError(f"a dataset=csv run reads rows from a table: nnml predict RUN --file rows.csv (columns "
                            f"{cols}; '{target}' may be absent); got {inputs[0]!r}")
        if records is not None:
            places = list(options.get("places") or [f"row {i + 1}" for i in range(len(records))])
            return transform_rows(records, meta, lambda i: places[i]), places, [{}] * len(records)
        if file is None:
            raise NnmlError("nnml predict needs rows for a dataset=csv run: --file rows.csv")
        recs, place = read_records(file)
        return transform_rows(recs, meta, place), [place(i) for i in range(len(recs))], [{}] * len(recs)
    if form == "images":
        from nnml.data.image_folder import transform_images

        if file is not None or records is not None:
            raise NnmlError("an image_folder run reads image files: give them (or folders of them) as inputs")
        paths = image_paths(inputs)
        return transform_images(paths, meta), paths, [{}] * len(paths)
    # rows of numbers (and, for digits and MNIST, images)
    if records is not None:
        places = list(options.get("places") or [f"row {i + 1}" for i in range(len(records))])
        raw = NI.records_to_raw(list(records), meta, shape, places)
        return NI.standardize(raw, meta, shape), places, [{}] * len(places)
    if file is not None:
        raw, places = NI.read_rows(file, meta, shape)
        return NI.standardize(raw, meta, shape), places, [{}] * len(places)
    parts, places, extra = [], [], []
    for text in inputs:
        path = Path(text)
        if form == "pixels" and (path.exists() or path.suffix.lower() in _image_suffixes()):
            files = image_paths([text])
            raw, inverted = NI.raw_images(files, meta)
            parts.append(raw)
            places += files
            extra += [{"inverted": flag} for flag in inverted]
        elif path.is_file():
            raise NnmlError(f"input {text} is a file: give a table of rows with --file {text}"
                            + ("" if form == "rows" else ", or image files (.png, .jpg, ...)"))
        else:
            parts.append(NI.parse_inline([text], NI.width(shape), shape))
            places.append(text)
            extra.append({"inverted": None} if form == "pixels" else {})
    if not parts:
        raise NnmlError("nnml predict needs inputs: rows with --file rows.csv, or a row typed as 1.5,2,0.3"
                        + (", or image files" if form == "pixels" else ""))
    return NI.standardize(np.concatenate(parts), meta, shape), places, extra


def _image_suffixes():
    from nnml.data.image_folder import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def image_paths(inputs: list[str]) -> list[str]:
    """The image files named, folders expanded to their images (sorted); a missing file is one line."""
    suffixes = _image_suffixes()
    out = []
    for text in inputs:
        p = Path(text).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in suffixes
                           and not q.name.startswith("."))
            if not found:
                raise NnmlError(f"{text}: the folder holds no images ({', '.join(suffixes)})")
            out += [str(q) for q in found]
        elif not p.exists():
            raise NnmlError(f"{text}: no such image file")
        else:
            out.append(str(p))
    if not out:
        raise NnmlError("nnml predict needs image files (or folders of them) for this run")
    return out


# ---------------------------------------------------------------------------------------------- outputs

def forward(model, x: torch.Tensor, device) -> torch.Tensor:
    """The model's outputs (N, outputs) on ``x``, in batches, on the CPU as float32."""
    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), BATCH):
            outs.append(model(x[i:i + BATCH].to(device)).float().cpu())
    return torch.cat(outs).reshape(len(x), -1) if outs else torch.zeros(0, 1)


def target_name(data, fallback: str) -> str:
    tab = (getattr(data, "meta", {}) or {}).get("tabular")
    name = tab["target"]["name"] if tab else fallback
    return fallback if name in ("input", "probability", "top", "inverted") else name


def probabilities(task, outputs: torch.Tensor) -> torch.Tensor:
    if getattr(task.criterion, "kind", "") == "bce":
        return torch.sigmoid(outputs)
    return torch.softmax(outputs, dim=-1)


def describe(task, outputs: torch.Tensor, places: list[str], top) -> list[dict]:
    data = task.data
    if task.kind == "classification":
        names = list(data.class_names) or [str(i) for i in range(outputs.shape[1])]
        if top is not None and int(top) < 1:
            raise NnmlError(f"--top {top} is not valid; give how many classes to show (1 or more)")
        k = min(int(top or DEFAULT_TOP), len(names))
        key = target_name(data, "label")
        probs = probabilities(task, outputs)
        rows = []
        for place, p in zip(places, probs):
            best = p.topk(k)
            rows.append({"input": place, key: names[int(best.indices[0])], "probability": float(best.values[0]),
                         "top": {names[int(i)]: round(float(v), 4) for v, i in zip(best.values, best.indices)}})
        return rows
    values = unstandardized(data, outputs)
    key = target_name(data, "value")
    return [{"input": place, key: (v[0] if len(v) == 1 else v)} for place, v in zip(places, values.tolist())]


def unstandardized(data, outputs: torch.Tensor) -> torch.Tensor:
    """Regression outputs on the target's own scale (the model learned it standardized)."""
    meta = data.meta
    if "tabular" in meta:
        t = meta["tabular"]["target"]
        mean, std = torch.tensor([t["mean"]]), torch.tensor([t["std"]])
    else:
        t = meta["standardization"]["target"]
        mean, std = torch.tensor(t["mean"]).reshape(-1), torch.tensor(t["std"]).reshape(-1)
    return outputs.double() * std.double() + mean.double()


def write_csv(rows: list[dict], out: Path, probs: torch.Tensor | None, names: list[str]) -> None:
    """``--out FILE``: one line per input; for classification the predicted class, its probability and the
    probability of every class (``p_<class>``), whatever ``--top`` shows."""
    from nnml.files import atomic_write_text

    if out.is_dir():
        raise NnmlError(f"--out {out} is a folder; give a file name, e.g. {out / 'predictions.csv'}")
    flat = []
    for i, row in enumerate(rows):
        item = {}
        for k, v in row.items():
            if k == "top":
                continue
            if isinstance(v, list):  # several regression outputs
                item.update({f"{k}_{j}": x for j, x in enumerate(v)})
            else:
                item[k] = v
        if probs is not None:
            item.update({f"p_{n}": float(p) for n, p in zip(names or range(probs.shape[1]), probs[i])})
        flat.append(item)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, list(dict.fromkeys(k for item in flat for k in item)), lineterminator="\n")
    writer.writeheader()
    for item in flat:
        writer.writerow({k: ("" if v is None else v) for k, v in item.items()})
    try:
        atomic_write_text(out, buf.getvalue())
    except OSError as e:
        raise NnmlError(f"--out {out} could not be written: {e.strerror or e}") from None
