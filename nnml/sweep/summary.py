"""The table at the end of every sweep (``nnml train -m ...``) and study (``nnml tune``): one row per configuration
(the jobs whose overrides differ only in ``seed`` are its replicates) with ``n``, the mean ± std and 95% t interval
of each metric over its seeds and whether it can be told apart from the best one (:mod:`nnml.sweep.groups`), best
mean first. Saved in the sweep folder as ``summary.csv`` (``<metric>_mean``, ``_std``, ``_ci_low``, ``_ci_high``,
``_vs_best``, ``_p_holm``, ``n``...) and ``summary.md`` (the table as printed), one row per job in ``jobs.csv`` and
``jobs.md`` (overrides that differ, final metrics, status), and the counts in ``summary.json``; the command prints
it (:mod:`nnml.cli.sweeps`).
"""

from __future__ import annotations

import json
from pathlib import Path

SUMMARY_JSON = "summary.json"


def summarize(sweep_dir: Path, metrics: list[str] | None = None) -> dict:
    """Build and save the summary of the jobs under ``sweep_dir``: ``{dir, jobs, failed, rows, job_rows,
    failures, hparams, metrics, configs, replicated}`` (``rows`` one per configuration, ranked by the mean of the
    first metric; ``job_rows`` one per job, ranked by its value)."""
    from nnml.files import atomic_write_text
    from nnml.sweep import groups as G
    from nnml.sweep import runs as R

    sweep_dir = Path(sweep_dir)
    runs = R.load_runs([sweep_dir]) if sweep_dir.is_dir() else []
    failed = sum(r.status in ("failed", "incomplete") for r in runs)  # every job that has no result
    unfinished = sum(r.status == "incomplete" for r in runs)  # of those: stopped or still running, no error
    result = {"dir": str(sweep_dir), "jobs": len(runs), "failed": failed, "unfinished": unfinished, "rows": [],
              "job_rows": [], "failures": [], "hparams": [], "metrics": [], "configs": 0, "replicated": False}
    if not runs:
        return result
    metrics = metrics or R.default_metrics(runs)
    hparams = G.config_columns(runs)
    groups = G.group(runs, hparams)
    table_rows = G.rows(groups, hparams, metrics, runs)
    job_rows = R.rows(R.rank(runs, metrics[0]), R.differing_keys(runs), metrics)
    atomic_write_text(sweep_dir / "summary.csv", R.to_csv(table_rows) if table_rows else "")
    atomic_write_text(sweep_dir / "summary.md", G.markdown(table_rows, hparams, metrics))
    atomic_write_text(sweep_dir / "jobs.csv", R.to_csv(job_rows))
    atomic_write_text(sweep_dir / "jobs.md", R.to_markdown(job_rows))
    atomic_write_text(sweep_dir / SUMMARY_JSON, json.dumps({"jobs": len(runs), "failed": failed,
                                                            "unfinished": unfinished, "configs": len(groups),
                                                            "metrics": metrics}, indent=2) + "\n")
    result.update(rows=table_rows, job_rows=job_rows, failures=G.failures(groups), hparams=hparams,
                  metrics=metrics, configs=len(groups), replicated=G.replicated(groups), groups=groups)
    return result


def write_board(result: dict) -> bool:
    """The sweep's own TensorBoard files: its HParams experiment (the keys that differ between its jobs) and, for
    a sweep with seeds, each configuration's mean learning curves with a 95% band as margin charts (``nnml board
    SWEEP`` opens on them). False when there is nothing to write (fewer than two finished jobs)."""
    from nnml.sweep import groups as G
    from nnml.sweep import runs as R
    from nnml.sweep.compare import band_curves
    from nnml.tracking.tensorboard import first_event_time, hparam_metrics, write_band_curves

    runs = [r for g in result.get("groups") or [] for r in g.finished]
    if len(runs) < 2:
        return False
    curves = band_curves(result["groups"], result["hparams"], result["metrics"]) if result["replicated"] else {}
    names = {g for r in runs for g in r.choices}
    keys = R.differing_keys(runs)
    hparams = {k: R.value_of(runs[0], k, names) for k in keys}
    metrics = [f"hparam/{k}" for k, v in hparam_metrics(runs[0].metrics).items() if G.is_number(v)]
    start = first_event_time(r.path for r in runs)
    write_band_curves(Path(result["dir"]), curves, hparams, metrics, None if start is None else start - 1)
    return True


def read_summary(sweep_dir: Path) -> dict:
    """What :func:`summarize` saved (jobs, failed, metrics), or {} when the sweep wrote no summary."""
    try:
        data = json.loads((Path(sweep_dir) / SUMMARY_JSON).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
