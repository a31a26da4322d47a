"""What ``nnml train -m`` adds around Hydra's sweep: the sweep's ``sweep.json`` (the command as typed and what it
varies, written before any job starts: it names the job folders and leads the HParams columns), how many jobs share
the cores, and the Hydra callbacks that print the tables at the end (the summary of every sweep, and the tables of
the presets that have one: the MNIST-1D paper table, the regularization gap table). Hydra runs ``on_multirun_end``
in the command's own process after every job has returned, whichever launcher ran them.
"""

from __future__ import annotations

import json
import shlex
import signal
from pathlib import Path

try:  # Hydra's callback base class; present in hydra-core >= 1.1
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object

from nnml.cli.report import report_error
from nnml.config.resolvers import MANIFEST, read_manifest  # noqa: F401  (read_manifest: the sweep's own readers)
from nnml.sweep.summary import read_summary, summarize  # noqa: F401


def write_manifest(sweep_dir: Path, plan, typed: list[str] | None = None) -> None:
    """``sweep.json``: the command that runs the sweep (what ``--continue`` runs again), the folder it runs in,
    the keys it varies with their values as typed, the preset's sweeper params, and ``runs``: every command that
    ran the sweep (``typed``: as typed, ``--continue`` included), oldest first. A continued sweep keeps the values
    as typed of its earlier runs (they name their job folders)."""
    from datetime import datetime, timezone

    from nnml.files import atomic_write_text
    from nnml.sweep.jobs import merged_varies
    from nnml.version import __version__

    earlier = read_manifest(sweep_dir)
    command = ["nnml", "train", *plan.argv]
    runs = [r for r in earlier.get("runs") or [] if isinstance(r, dict)]
    if earlier and not runs:  # a sweep folder from before runs were recorded
        runs = [{"typed": earlier.get("command"), "started_at": None}]
    runs.append({"typed": ["nnml", "train", *(typed if typed is not None else plan.argv)],
                 "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
    record = {"command": command, "cwd": str(Path.cwd()), "varies": merged_varies(earlier.get("varies"), plan.varies),
              "params": {str(k): str(v) for k, v in plan.params.items()}, "nnml_version": __version__, "runs": runs}
    atomic_write_text(Path(sweep_dir) / MANIFEST, json.dumps(record, indent=2) + "\n")


def continue_command(sweep_dir: Path) -> str:
    """The one command that finishes the sweep in ``sweep_dir``."""
    from nnml.tracking.console import short_path

    return f"nnml train -m --continue {shlex.quote(short_path(Path(sweep_dir)))}"


def expand_continue(words: list[str]) -> tuple[list[str], Path | None]:
    """``--continue DIR [more words]`` -> (the command recorded in DIR/sweep.json with ``hydra.sweep.dir=DIR`` and
    the more words after it, DIR); other command lines are returned as they are. The command runs in the folder it
    was first run in (its relative paths are relative to it)."""
    import os

    from nnml.errors import NnmlError

    names = ("--continue",)
    at = next((i for i, w in enumerate(words) if w.split("=", 1)[0] in names), None)
    if at is None:
        return words, None
    word = words[at]
    if "=" in word:
        given, rest = word.split("=", 1)[1], words[at + 1:]
    elif at + 1 < len(words):
        given, rest = words[at + 1], words[at + 2:]
    else:
        raise NnmlError("--continue needs the sweep folder: nnml train -m --continue outputs/train/multiruns/<time>")
    before = [w for w in words[:at] if w not in ("-m", "--multirun")]
    sweep = Path(given).expanduser().absolute()
    manifest = read_manifest(sweep)
    command = manifest.get("command")
    if not sweep.is_dir() or not isinstance(command, list) or command[:2] != ["nnml", "train"]:
        why = "no such folder" if not sweep.is_dir() else "it holds no sweep.json with the command of a sweep"
        raise NnmlError(f"--continue {given}: {why}; give the folder of a sweep of nnml train -m "
                        f"(outputs/<task>/multiruns/<time>)")
    cwd = manifest.get("cwd")
    if cwd and Path(cwd).is_dir() and Path(cwd).resolve() != Path.cwd().resolve():
        os.chdir(cwd)  # the command's relative paths (-cd conf, dataset.path=...) are relative to where it began
    recorded = [str(w) for w in command[2:] if not str(w).startswith("hydra.sweep.dir=")]
    if "-m" not in recorded and "--multirun" not in recorded:
        recorded.insert(0, "-m")
    return [*recorded, *before, *rest, f"hydra.sweep.dir={sweep}"], sweep


def job_line(name: str, monitor: str | None, metrics: dict | None, seconds: float | None, status: str) -> str:
    """A finished sweep job on one line: its name, the monitored metric, how long it took, what happened."""
    from nnml.tracking.console import clock

    value = (metrics or {}).get(monitor) if monitor else None
    shown = f"{monitor} {value:.4f}" if isinstance(value, (int, float)) else (f"{monitor} -" if monitor else "")
    took = clock(seconds) if seconds is not None else "-"
    return "  ".join(p for p in (name, shown, took, status) if p)


class SweepStop:
    """The signal handlers of the command that runs a sweep, while its jobs run. The first Ctrl-C (or SIGTERM) asks
    every job to stop and save (jobs in this process see it in their training loop's own handler; jobs in other
    processes through the sweep folder's stop file, nnml/sweep/jobs.py) and lets the sweep end by itself: the jobs
    that finished are summarized. A second Ctrl-C stops at once."""

    def __init__(self, sweep_dir: Path):
        self.sweep_dir = Path(sweep_dir)
        self.signum = 0
        self._old = {}

    def _handle(self, signum, frame):
        import os

        from nnml.sweep.jobs import request_stop

        if self.signum:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.signum = signum
        request_stop(self.sweep_dir, signum)
        # os.write: a handler may run in the middle of another print to the same stream
        os.write(2, b"stopping the sweep: running jobs save a checkpoint and stop, the rest do not start "
                    b"(Ctrl-C again stops at once)\n")

    def install(self) -> SweepStop:
        from nnml.sweep.jobs import clear_stop

        clear_stop(self.sweep_dir)
        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        except ValueError:
            pass  # not the main thread
        return self

    def uninstall(self) -> None:
        from nnml.sweep.jobs import clear_stop

        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}
        clear_stop(self.sweep_dir)


def concurrent_jobs(hydra_cfg) -> int:
    """How many jobs the sweep's launcher runs at once on this machine (1: one at a time, or elsewhere)."""
    from nnml.engine.device import usable_cores

    launcher = hydra_cfg.launcher
    target = str(launcher.get("_target_", ""))
    if target.endswith("JoblibLauncher"):
        n = int(launcher.get("n_jobs", -1))
        return max(1, usable_cores() + 1 + n if n < 0 else n)  # joblib: -1 = all cores, -2 = all but one
    if target.endswith("submitit_launcher.LocalLauncher"):
        size = _sweep_size(hydra_cfg)
        cap = int(launcher.get("array_parallelism", 256) or 256)
        return max(1, min(size or usable_cores(), cap))
    return 1


def _sweep_size(hydra_cfg) -> int | None:
    """Jobs in a basic grid sweep (the product of each swept key's values); None when unknown (glob)."""
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        args = list(hydra_cfg.overrides.task)
        params = hydra_cfg.sweeper.get("params") or {}
        given = {a.split("=", 1)[0] for a in args}
        args += [f"{k}={v}" for k, v in params.items() if k not in given]
        n = 1
        for ov in OverridesParser.create().parse_overrides(args):
            if ov.is_sweep_override():
                n *= len(list(ov.sweep_string_iterator()))
        return n
    except Exception:
        return None


def print_summary(result: dict, title: str | None = None, show_run: bool = False) -> None:
    """The configurations' table (mean ± std and 95% interval over seeds, status against the best), then one line
    per job that did not finish."""
    from rich.markup import escape

    from nnml.cli.tables import table_console
    from nnml.sweep import groups as G
    from nnml.sweep import runs as R
    from nnml.tracking.console import short_path

    rows, metrics = result.get("rows") or [], result.get("metrics") or []
    if not rows and not result.get("failures"):
        return
    console = table_console()
    n, failed, unfinished = result["jobs"], result["failed"], result.get("unfinished", 0)
    if title:
        head = title
    elif result.get("replicated"):
        seeds = sorted({r["n"] for r in rows})
        per = f"{seeds[0]} seeds" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]} seeds"
        head = (f"Sweep of {n} jobs: {len(rows)} configurations x {per}, best mean {metrics[0]} first"
                f"{R.tie_note(metrics[0])}")
    else:
        head = f"Sweep of {n} {'job' if n == 1 else 'jobs'}, best {metrics[0]} first{R.tie_note(metrics[0])}"
    counts = [f"{failed - unfinished} failed" if failed > unfinished else "", f"{unfinished} unfinished" if unfinished
              else ""]
    if any(counts):
        head += f" ({', '.join(c for c in counts if c)})"
    sweep_dir = Path(result["dir"])
    if rows:
        hparams = result.get("hparams") or []
        console.print(G.rich_table(rows, hparams, metrics, head, width=console.width,
                                   caption=G.caption(rows, metrics), show_runs=show_run or not hparams))
    else:
        console.print(head, highlight=False, markup=False)
    for row in result.get("failures") or []:
        why = f": {escape(str(row['error']))}" if row.get("error") else ""
        console.print(f"[red]{escape(str(row['status']))}[/red] {escape(str(row['run']))}{why}", soft_wrap=True,
                      highlight=False)
    console.print(f"summary: {short_path(sweep_dir / 'summary.md')} (and summary.csv; one row per job: jobs.csv); "
                  f"view: nnml board {short_path(sweep_dir)}", soft_wrap=True, highlight=False)


class SweepSummary(_HydraCallback):
    """Hydra callback (``hydra.callbacks.sweep_summary`` in configs/train.yaml): the summary table after a sweep."""

    def on_multirun_end(self, config, **kwargs) -> None:
        from nnml.sweep.summary import write_board

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            result = summarize(sweep_dir)
            print_summary(result)
        except Exception as e:  # a summary must never hide the jobs' own results
            report_error(f"could not write the sweep summary in {sweep_dir}: {type(e).__name__}: {e}")
            return
        try:
            write_board(result)
        except Exception as e:  # nor must the board's charts
            report_error(f"could not write the sweep's TensorBoard charts in {sweep_dir}: {type(e).__name__}: {e}")


class PaperTable(_HydraCallback):
    """Hydra callback of ``experiment=mnist1d_table``: the paper table at the end of the sweep. Hydra calls end
    callbacks in reverse order, so it prints just before the sweep summary."""

    def on_multirun_end(self, config, **kwargs) -> None:
        from nnml.cli.tables import table_console
        from nnml.sweep.paper_table import paper_table

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            _, table = paper_table(sweep_dir)
            if table is not None:
                table_console().print(table)
        except Exception as e:  # never hide the jobs' own results
            report_error(f"could not write the MNIST-1D paper table in {sweep_dir}: {type(e).__name__}: {e}")


class GapTable(_HydraCallback):
    """Hydra callback of ``experiment=regularization``: beside the sweep summary, this lab's table (the train/val
    gap of every method and how much of the baseline's it closed), with its figures in ``SWEEP/gap/``."""

    def on_multirun_end(self, config, **kwargs) -> None:
        from nnml.cli.tables import table_console
        from nnml.sweep.regularization import run

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            _numbers, table = run({"sweep": str(sweep_dir)}, sweep_dir / "gap")
            table_console().print(table)
        except Exception as e:  # never hide the jobs' own results
            report_error(f"could not write the regularization gap table in {sweep_dir}: {type(e).__name__}: {e}")
