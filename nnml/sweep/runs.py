"""Reading finished runs back from their folders, for the sweep summary, ``nnml compare`` and ``nnml tune``.

A run folder is any folder holding ``metrics.json`` or ``.hydra/config.yaml`` (single runs, sweep jobs, tune trials).
Each run's saved config is flattened to ``dotted.key -> value``; the columns worth showing are the hyperparameters
that differ between the runs. No torch here: this answers at once.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from nnml.errors import NnmlError

SKIP_DIRS = {".hydra", "checkpoints", "__pycache__"}
# Keys that say where or how a run ran, not what it learned: never a hyperparameter column.
NOT_HPARAMS = {"resume", "task_name", "trainer.device", "trainer.num_threads", "allowed_targets"}


@dataclass
class Run:
    path: Path
    name: str = ""
    config: dict = field(default_factory=dict)      # flattened saved config
    choices: dict = field(default_factory=dict)     # group -> option (from .hydra/hydra.yaml)
    overrides: list = field(default_factory=list)   # the job's command-line overrides
    metrics: dict = field(default_factory=dict)
    status: str = "incomplete"                      # ok | pruned | failed | incomplete
    error: str = ""


def metric_mode(name: str, runs: list | None = None) -> str:
    """``max`` or ``min``: what the runs' tasks recorded for this metric (metrics.json ``directions``), else by its
    name, for runs from before directions were recorded (:func:`nnml.engine.metrics.direction`)."""
    from nnml.engine.metrics import direction

    base = name.split("/", 1)[-1]
    for r in runs or ():
        d = (r.metrics.get("directions") or {}).get(base) if isinstance(r.metrics, dict) else None
        if d in ("max", "min"):
            return d
    return direction(name)


def is_run_dir(path: Path) -> bool:
    return (path / "metrics.json").is_file() or (path / ".hydra" / "config.yaml").is_file()


def find_runs(paths) -> list[Path]:
    """Every run folder at or below ``paths`` (a run folder's own subfolders are not searched)."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise NnmlError(f"{p} does not exist; give run, sweep or study folders (e.g. outputs/train/multiruns)")
        if p.is_file():
            p = p.parent
        if is_run_dir(p):
            found.append(p)
            continue
        for root, dirs, _files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
            r = Path(root)
            if r != p and is_run_dir(r):
                found.append(r)
                dirs[:] = []
    return sorted(dict.fromkeys(x.resolve() for x in found))


def flatten(node, prefix: str = "", as_text: bool = True) -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; an empty mapping stays a value (``scheduler: {}``). ``as_text``: lists
    become their text (``[256, 256]``) so they compare and print; otherwise values stay as they are."""
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key, as_text))
            else:
                out[key] = _scalar(v) if as_text else v
    return out


def _scalar(v):
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(_scalar(x)) for x in v) + "]"
    if isinstance(v, dict):
        return "{}"
    return v


def _load_yaml(path: Path):
    # RunFolder's safe reader: a folder's YAML is data from anywhere, and OmegaConf.load expanded an alias bomb in
    # hydra.yaml into millions of nodes (minutes and gigabytes) before anything could refuse it.
    from nnml.config.runfolder import safe_yaml

    try:
        return safe_yaml(path)
    except NnmlError:  # a half-written or foreign file: the run shows without it
        return None


def _dict(value) -> dict:
    """``value`` when it is a mapping, else {}: any file of a folder may hold any shape."""
    return value if isinstance(value, dict) else {}


def load_run(path: Path, root: Path | None = None) -> Run:
    path = Path(path)
    run = Run(path=path)
    try:
        run.name = path.relative_to(root).as_posix() if root and path != root else path.name
    except ValueError:
        run.name = path.name
    cfg = _load_yaml(path / ".hydra" / "config.yaml") if (path / ".hydra" / "config.yaml").is_file() else None
    run.config = flatten(cfg) if isinstance(cfg, dict) else {}
    hydra_cfg = _load_yaml(path / ".hydra" / "hydra.yaml") if (path / ".hydra" / "hydra.yaml").is_file() else None
    if isinstance(hydra_cfg, dict):
        h = _dict(hydra_cfg.get("hydra"))
        choices = _dict(_dict(h.get("runtime")).get("choices"))
        run.choices = {k: str(v) for k, v in choices.items() if not str(k).startswith("hydra/") and v is not None}
        overrides = _dict(h.get("overrides")).get("task")
        run.overrides = [str(o) for o in overrides] if isinstance(overrides, list) else []
    elif (path / ".hydra" / "overrides.yaml").is_file():
        overrides = _load_yaml(path / ".hydra" / "overrides.yaml")
        run.overrides = [str(o) for o in overrides] if isinstance(overrides, list) else []
    if (path / "metrics.json").is_file():
        try:
            metrics = json.loads((path / "metrics.json").read_text())
        except (OSError, ValueError):
            metrics = None
        if isinstance(metrics, dict):
            run.metrics = metrics
            run.status = "ok"
            if str(run.metrics.get("stop_reason", "")).startswith("pruned"):
                run.status = "pruned"
    if (path / "error.txt").is_file():
        run.status = "failed"
        run.error = (path / "error.txt").read_text(errors="replace").strip().splitlines()[0:1]
        run.error = run.error[0] if run.error else "failed"
    return run


def load_runs(paths) -> list[Run]:
    dirs = find_runs(paths)
    roots = [Path(p).resolve() for p in paths]
    common = Path(os.path.commonpath([str(r if r.is_dir() else r.parent) for r in roots])) if roots else None
    return [load_run(d, common) for d in dirs]


def differing_keys(runs: list[Run]) -> list[str]:
    """Hyperparameter columns: group choices that differ, then config keys that differ.

    Under a group whose choice differs (optimizer=sgd vs adam), keys only some runs have (momentum, betas) follow from
    the choice and are left out; keys all runs share (optimizer.lr) are shown when their values differ."""
    if len(runs) < 2:
        return []
    group_cols = sorted({g for r in runs for g in r.choices}
                        - {g for g in {g for r in runs for g in r.choices}
                           if len({r.choices.get(g) for r in runs}) == 1})
    keys = list(dict.fromkeys(k for r in runs for k in r.config))
    cols = []
    for k in keys:
        if k in NOT_HPARAMS or k.startswith("hydra."):
            continue
        values = [r.config.get(k, _MISSING) for r in runs]
        if len({json.dumps(v, default=str) for v in values}) == 1:
            continue
        group = k.split(".")[0]
        if group in group_cols and (_MISSING in values or k.endswith(("._target_", "._partial_"))):
            continue
        cols.append(k)
    return _drop_duplicates(runs, group_cols + cols)


def _drop_duplicates(runs: list[Run], cols: list[str]) -> list[str]:
    """A column that says the same as an earlier one for every run (optimizer_preset=sgd beside optimizer=sgd)."""
    groups = {g for r in runs for g in r.choices}
    seen, out = set(), []
    for c in cols:
        sig = tuple(json.dumps(value_of(r, c, groups), default=str) for r in runs)
        if sig not in seen:
            seen.add(sig)
            out.append(c)
    return out


_MISSING = "-"


def default_metrics(runs: list[Run]) -> list[str]:
    """The runs' monitored metric (as the trainer chose it) and its test counterpart."""
    monitors = [r.metrics.get("monitor") for r in runs if isinstance(r.metrics.get("monitor"), str)]
    monitor = max(set(monitors), key=monitors.count) if monitors else "val/loss"
    out = [monitor]
    test = "test/" + monitor.split("/", 1)[-1]
    if any(test in r.metrics for r in runs) and test != monitor:
        out.append(test)
    return out


def tie_note(metric: str) -> str:
    """What breaks a tie in :func:`rank`, for a table's title."""
    tie = metric.split("/")[0] + "/loss"
    return f" (ties: lower {tie} first)" if tie != metric else ""


def rank(runs: list[Run], metric: str, order: str = "auto") -> list[Run]:
    """Best first by ``metric`` (``order``: auto = by the metric's kind, desc, asc); runs without it last."""
    if order not in ("auto", "desc", "asc"):
        raise NnmlError(f"--sort {order} is not valid; choose one of: asc, auto, desc")
    desc = metric_mode(metric, runs) == "max" if order == "auto" else order == "desc"

    tie = metric.split("/")[0] + "/loss"  # equal accuracies (a small val set): the lower loss first

    def num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def key(r: Run):
        v, t = r.metrics.get(metric), r.metrics.get(tie)
        if not num(v):
            return (1, 0, 0)
        return (0, -v if desc else v, t if num(t) and tie != metric else 0)

    return sorted(runs, key=key)


def value_of(run: Run, key: str, group_cols=()):
    if key in group_cols:
        return run.choices.get(key, _MISSING)
    return run.config.get(key, _MISSING)


def rows(runs: list[Run], hparams: list[str], metrics: list[str]) -> list[dict]:
    """One plain dict per run, in the given order: rank, hparams, metrics, epochs, status, run folder."""
    group_cols = {g for r in runs for g in r.choices}
    out = []
    for i, r in enumerate(runs, 1):
        row = {"rank": i}
        for k in hparams:
            row[k] = value_of(r, k, group_cols)
        for m in metrics:
            row[m] = r.metrics.get(m)
        row["epochs"] = r.metrics.get("epochs")
        row["status"] = r.status
        row["run"] = r.name
        if r.error:
            row["error"] = r.error
        out.append(row)
    return out


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.3g}"
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1 or v != int(v) else f"{v:g}"
    return str(v)


def column_formatter(values):
    """One number format for a whole column: fixed decimals (as many as the column needs, at most 4) when every
    float lies in [1e-3, 1e5), else scientific notation for all of them (1e-02, 1e+10)."""
    floats = [v for v in values if isinstance(v, float) and math.isfinite(v) and not isinstance(v, bool)]
    if not floats:
        return fmt
    if all(v == 0 or 1e-3 <= abs(v) < 1e5 for v in floats):
        decimals = max(len(f"{v:.4f}".rstrip("0").split(".")[1]) for v in floats)

        def fixed(v):
            return f"{v:.{decimals}f}" if isinstance(v, float) and math.isfinite(v) else fmt(v)

        return fixed

    def sci(v):
        if not (isinstance(v, float) and math.isfinite(v)):
            return fmt(v)
        mantissa, exp = f"{v:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exp}"

    return sci


def columns(table_rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for row in table_rows for k in row))


def to_csv(table_rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns(table_rows), lineterminator="\n")
    w.writeheader()
    for row in table_rows:
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def to_markdown(table_rows: list[dict]) -> str:
    cols = columns(table_rows)
    formats = {c: column_formatter([row.get(c) for row in table_rows]) for c in cols}  # as the table shows them
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in table_rows:
        lines.append("| " + " | ".join(formats[c](row.get(c)).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def to_json(table_rows: list[dict]) -> str:
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
             for r in table_rows]
    return json.dumps(clean, indent=2, default=str) + "\n"


def rich_table(table_rows: list[dict], title: str = "", show_run: bool = True, width: int | None = None):
    """The rows as a rich Table; errors are left to the caller (too long for a cell). When the columns would not
    fit in ``width`` (a terminal's), the results come first (rank, metrics, epochs, status), then as many of the
    differing hyperparameters as fit, then the run, and the caption names the ones left out (``--format csv`` has
    them all): rows stay one line and the metrics are never pushed off the right edge."""
    from rich.markup import escape
    from rich.table import Table

    style = {"ok": "green", "pruned": "yellow", "failed": "bold red", "incomplete": "red"}
    cols = [c for c in columns(table_rows) if c != "error" and (show_run or c != "run")]
    formats = {c: column_formatter([row.get(c) for row in table_rows]) for c in cols}
    left_out: list[str] = []
    if width:
        need = {c: 3 + max([len(c)] + [len(formats[c](row.get(c))) for row in table_rows]) for c in cols}
        if 1 + sum(need.values()) > width:
            first = [c for c in cols if c == "rank" or "/" in c or c in ("epochs", "status")]
            last = [c for c in cols if c == "run"]  # which folder: always shown
            kept, used = list(first), 1 + sum(need[c] for c in first + last)
            for c in [c for c in cols if c not in first + last]:
                if used + need[c] <= width:
                    kept.append(c)
                    used += need[c]
                else:
                    left_out.append(c)
            cols = kept + last
    caption = (f"not shown, for width: {', '.join(left_out)} (nnml compare ... --format csv shows every column)"
               if left_out else None)
    table = Table(title=title or None, caption=caption, caption_justify="left")
    for c in cols:
        # A header is never broken mid-word: rich folds a too-narrow column anywhere, so the column is at least
        # as wide as its name (the run column, the widest, gives way first).
        numeric = any(isinstance(row.get(c), (int, float)) and not isinstance(row.get(c), bool) for row in table_rows)
        table.add_column(c, justify="right" if numeric else "left", overflow="fold",
                         min_width=len(c) if c != "run" else None)
    for row in table_rows:
        cells = []
        for c in cols:
            text = escape(formats[c](row.get(c)))
            if c == "status" and style.get(text):
                text = f"[{style[text]}]{text}[/]"
            cells.append(text)
        table.add_row(*cells)
    return table
