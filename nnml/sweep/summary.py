"""The table at the end of every sweep (``nnml train -m ...``) and study (``nnml tune``): one row per job with the
overrides that differ, the final metrics and the job's status, best first. Saved as ``summary.csv``, ``summary.md``
and ``summary.json`` (the counts) in the sweep folder; the command prints it (:mod:`nnml.cli.sweeps`).
"""

from __future__ import annotations

import json
from pathlib import Path

SUMMARY_JSON = "summary.json"


def summarize(sweep_dir: Path, metrics: list[str] | None = None) -> dict:
    """Build and save the summary of the jobs under ``sweep_dir``: ``{dir, jobs, failed, rows, hparams, metrics}``
    (rows ranked by the first metric)."""
    from nnml.files import atomic_write_text
    from nnml.sweep import runs as R

    sweep_dir = Path(sweep_dir)
    runs = R.load_runs([sweep_dir]) if sweep_dir.is_dir() else []
    failed = sum(r.status in ("failed", "incomplete") for r in runs)  # every job that has no result
    unfinished = sum(r.status == "incomplete" for r in runs)  # of those: stopped or still running, no error
    result = {"dir": str(sweep_dir), "jobs": len(runs), "failed": failed, "unfinished": unfinished, "rows": [],
              "hparams": [], "metrics": []}
    if not runs:
        return result
    metrics = metrics or R.default_metrics(runs)
    hparams = R.differing_keys(runs)
    table_rows = R.rows(R.rank(runs, metrics[0]), hparams, metrics)
    atomic_write_text(sweep_dir / "summary.csv", R.to_csv(table_rows))
    atomic_write_text(sweep_dir / "summary.md", R.to_markdown(table_rows))
    atomic_write_text(sweep_dir / SUMMARY_JSON, json.dumps({"jobs": len(runs), "failed": failed,
                                                            "unfinished": unfinished, "metrics": metrics},
                                                           indent=2) + "\n")
    result.update(rows=table_rows, hparams=hparams, metrics=metrics)
    return result


def read_summary(sweep_dir: Path) -> dict:
    """What :func:`summarize` saved (jobs, failed, metrics), or {} when the sweep wrote no summary."""
    try:
        data = json.loads((Path(sweep_dir) / SUMMARY_JSON).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
