"""A finished run's predictions on new inputs, whatever its task: what ``nnml predict`` and the Python API's
``Run.predict`` share. The run is restored from its folder (:func:`nnml.run.restore.restore_run`) and its task's
``predict(inputs, options)`` answers with one row (a dict of plain values) per input; printing is the caller's.
"""

from __future__ import annotations

from pathlib import Path

from nnml.errors import NnmlError


def check_file(file) -> Path | None:
    """``--file F`` exists and is a file (checked before the run is restored)."""
    if file is None:
        return None
    p = Path(file)
    if not p.is_file():
        raise NnmlError(f"--file {file}: no such file" if not p.exists() else f"--file {file} is a folder; give a file")
    return p


def predict_rows(restored, inputs=(), file=None, options: dict | None = None) -> list[dict]:
    """One row per input of the restored run's task. ``file``: a table of rows (tasks whose ``file_inputs`` is
    ``table``) or one input per line (the others). ``options``: ``top``, ``beam``, ``out``, ``records`` (rows as
    mappings) and their ``places``."""
    from nnml.tasks.capabilities import Predicts

    task = restored.task
    run_dir = restored.run_dir
    if not isinstance(task, Predicts):
        raise NnmlError(f"{run_dir} is a run of {type(task).__name__}, which has no predictions from the command "
                        f"line; nnml eval {run_dir} evaluates it")
    items = [str(i) for i in inputs]
    options = {k: v for k, v in (options or {}).items() if v is not None}
    file = check_file(file)
    if file is not None:
        # what --file holds for this task: one input per line, or a table the task reads itself (Predicts.file_inputs)
        if getattr(task, "file_inputs", "lines") == "table":
            options["file"] = file
        else:
            items += read_lines(file)
    if not items and "file" not in options and "records" not in options:
        raise NnmlError("nnml predict needs inputs: give them after the run folder or with --file FILE")
    return task.predict(items, options)


def read_lines(file: Path) -> list[str]:
    """The lines of a text file of inputs; a binary or non-UTF-8 file is one line naming the byte where it stops
    being text."""
    data = Path(file).read_bytes()
    zero = data.find(b"\x00")
    if zero >= 0:
        raise NnmlError(f"--file {file} is not a text file (a zero byte at offset {zero}); give one input per line "
                        f"as UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NnmlError(f"--file {file} is not UTF-8 text (byte offset {e.start}: {data[e.start:e.start + 1]!r}); save "
                        f"it as UTF-8, one input per line") from None
    return [line.rstrip("\r") for line in text.splitlines()]
