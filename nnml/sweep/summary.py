"""The table at the end of every sweep (``nnml train -m ...``): one row per job with the overrides that differ,
the final metrics and the job's status, best first. Printed with rich and saved as ``summary.csv`` and
``summary.md`` in the sweep folder.

It is a Hydra callback (registered under ``hydra.callbacks`` in configs/train.yaml): ``on_multirun_end`` runs in the
parent process after every job has returned, whichever launcher ran them, and reads what each job left in its
folder (``metrics.json``, ``error.txt``). Jobs that failed are marked and counted; ``nnml train`` then exits with
status 1 (see :func:`failed_jobs`), so a script or CI notices a sweep with a failed job.
"""

from __future__ import annotations

from pathlib import Path

try:  # Hydra's callback base class; present in hydra-core >= 1.1
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object

# What the last sweep in this process left: read by the CLI to choose its exit status.
LAST: dict = {"dir": None, "jobs": 0, "failed": 0}


def reset() -> None:
    LAST.update(dir=None, jobs=0, failed=0)


def failed_jobs() -> int:
    """Failed (or unfinished) jobs of the last sweep this process ran; 0 after a single run."""
    return int(LAST["failed"])


def summarize(sweep_dir: Path, console=None, title: str | None = None, metrics: list[str] | None = None,
              show_run: bool = False) -> dict:
    """Build, print and save the summary of the jobs under ``sweep_dir``; returns ``LAST``-style counts."""
    from nnml.sweep import runs as R

    sweep_dir = Path(sweep_dir)
    runs = R.load_runs([sweep_dir]) if sweep_dir.is_dir() else []
    failed = sum(r.status in ("failed", "incomplete") for r in runs)
    result = {"dir": str(sweep_dir), "jobs": len(runs), "failed": failed}
    if not runs:
        return result
    metrics = metrics or R.default_metrics(runs)
    hparams = R.differing_keys(runs)
    table_rows = R.rows(R.rank(runs, metrics[0]), hparams, metrics)
    (sweep_dir / "summary.csv").write_text(R.to_csv(table_rows))
    (sweep_dir / "summary.md").write_text(R.to_markdown(table_rows))
    console = console or R.table_console()
    head = title or (f"Sweep of {len(runs)} {'job' if len(runs) == 1 else 'jobs'}, best {metrics[0]} first"
                     f"{R.tie_note(metrics[0])}")
    if failed:
        head += f" ({failed} failed)"
    from nnml.tracking.console import short_path

    R.print_rows(console, table_rows, head, [] if show_run else hparams,
                 all_hint=f"nnml compare {short_path(sweep_dir)} --all puts them in the table")
    console.print(f"summary: {short_path(sweep_dir / 'summary.md')} (and summary.csv); "
                  f"view: nnml board {short_path(sweep_dir)}", soft_wrap=True, highlight=False)
    return result


def concurrent_jobs(config) -> int | None:
    """How many jobs the sweep's launcher runs at once on this machine (None: elsewhere, or one at a time)."""

    from nnml.engine.device import usable_cores

    target = str(config.hydra.launcher.get("_target_", ""))
    if target.endswith("JoblibLauncher"):
        n = int(config.hydra.launcher.get("n_jobs", -1))
        return max(1, usable_cores() + 1 + n if n < 0 else n)  # joblib: -1 = all cores, -2 = all but one
    if target.endswith("submitit_launcher.LocalLauncher"):
        size = _sweep_size(config)
        cap = int(config.hydra.launcher.get("array_parallelism", 256) or 256)
        return max(1, min(size or usable_cores(), cap))
    return None


def split_top_level(text: str) -> list[str]:
    """``a,[1,2],'x,y'`` -> ``["a", "[1,2]", "'x,y'"]``: the values of a sweep as typed."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return [p.strip() for p in out]


def varied_values(config) -> dict[str, dict[str, str]]:
    """``{key: {value as Hydra formats it: value as typed}}`` for every key the sweep varies (command line and
    the sweeper's params of a preset), in the order typed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    typed = [str(a) for a in config.hydra.overrides.task]
    params = config.hydra.sweeper.get("params") or {}
    given = {a.split("=", 1)[0] for a in typed}
    typed += [f"{k}={v}" for k, v in params.items() if k not in given]
    parser = OverridesParser.create()
    out: dict[str, dict[str, str]] = {}
    for text in typed:
        try:
            (ov,) = parser.parse_overrides([text])
        except Exception:
            continue
        if not ov.is_sweep_override():
            continue
        key = ov.key_or_group.lstrip("+~")
        try:
            formatted = list(ov.sweep_string_iterator())
        except Exception:  # interval or tag sweeps of other sweepers: no list of values
            out[key] = {}
            continue
        raw = text.split("=", 1)[1]
        pieces = split_top_level(raw) if "(" not in raw else formatted
        out[key] = dict(zip(formatted, pieces)) if len(pieces) == len(formatted) else {f: f for f in formatted}
    return out


def _sweep_size(config) -> int | None:
    """Jobs in a basic grid sweep (the product of each swept key's values); None when unknown (glob)."""
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        args = list(config.hydra.overrides.task)
        params = config.hydra.sweeper.get("params") or {}
        given = {a.split("=", 1)[0] for a in args}
        args += [f"{k}={v}" for k, v in params.items() if k not in given]
        n = 1
        for ov in OverridesParser.create().parse_overrides(args):
            if ov.is_sweep_override():
                n *= len(list(ov.sweep_string_iterator()))
        return n
    except Exception:
        return None


class SweepSummary(_HydraCallback):
    """Hydra callback: threads per parallel job before a multirun, the summary table after it (parent process)."""

    def __init__(self):
        self._set_env = False
        self._set_varies = False

    def on_multirun_start(self, config, **kwargs) -> None:
        import json
        import os

        from nnml.config.resolvers import SWEEP_ENV

        reset()
        # What the sweep varies names the job folders and leads the HParams columns (nnml/config/resolvers.py).
        if not os.environ.get(SWEEP_ENV):
            os.environ[SWEEP_ENV] = json.dumps(varied_values(config))
            self._set_varies = True
        # Jobs running side by side must share the cores: trainer.num_threads=auto divides by this (engine/device.py).
        # Set before the launcher starts its workers, which inherit the environment; a value the user set wins.
        n = concurrent_jobs(config)
        if n and not os.environ.get("NNML_PARALLEL_JOBS", "").strip():
            os.environ["NNML_PARALLEL_JOBS"] = str(n)
            self._set_env = True

    def on_multirun_end(self, config, **kwargs) -> None:
        import os

        if self._set_env:
            os.environ.pop("NNML_PARALLEL_JOBS", None)
            self._set_env = False
        if self._set_varies:
            from nnml.config.resolvers import SWEEP_ENV

            os.environ.pop(SWEEP_ENV, None)
            self._set_varies = False
        # The sweep dir was resolved (and created) when the sweep started; the resolver caches that value on this config.
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            LAST.update(summarize(sweep_dir))
        except Exception as e:  # a summary must never hide the jobs' own results
            from nnml.cli.entry import report_error

            report_error(f"could not write the sweep summary in {sweep_dir}: {type(e).__name__}: {e}")
            LAST.update(dir=str(sweep_dir))
