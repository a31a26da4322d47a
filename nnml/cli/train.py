"""``nnml train``: check the command line, claim the run (or sweep) folder, hand the rest to Hydra.

Order matters for the promise that a refusal writes nothing: every check runs first (:mod:`nnml.cli.checks.
precheck`: composition, values, the config's semantics, resume's rules, a folder that is locked or holds a finished
run); only then is the folder claimed (created atomically, ``-1`` when the name is taken), and Hydra gets it as
``hydra.run.dir``/``hydra.sweep.dir``. When the job refuses something only the data could tell (exit 2), or a signal
stops the command before training began, the folder this command created is removed again.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nnml.cli.claim import claim
from nnml.cli.claim import hydra_str as _hydra_str
from nnml.cli.report import Stopped, note, report_error, run_cli_guarded, stop_on_sigterm, stopped_note

HYDRA_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def complete(ctx: typer.Context, incomplete: str) -> List[str]:
    from nnml.config.catalog import complete_override

    return complete_override(incomplete, ctx.params.get("overrides") or [])


def register(app: typer.Typer) -> None:
    @app.command(context_settings=HYDRA_CONTEXT, add_help_option=False)
    def train(
        overrides: Optional[List[str]] = typer.Argument(
            None, autocompletion=complete, show_default=False,
            help="Hydra flags then overrides: key=value, group=option, -m for sweeps, --cfg job, --help for groups."),
    ) -> None:
        """Train a model. Overrides compose dataset, model, loss, optimizer, scheduler, trainer and logger.

        nnml train --help lists the config groups (Hydra's help). Examples: nnml train;
        nnml train dataset=moons model.activation=tanh; nnml train -m optimizer=sgd,adam
        """
        run_train_command(list(overrides or []))


def quote_resume(arg: str) -> str:
    """``resume=PATH`` as Hydra's grammar reads it whatever the path holds: a sweep job's folder has ``=`` and
    ``,`` in its name (``optimizer=adam,seed=1``), which Hydra would take for an override or a sweep."""
    if not arg.startswith("resume=") or arg[7:8] in ("'", '"') or arg == "resume=null":
        return arg
    path = arg[7:].replace("\\", "\\\\").replace("'", "\\'")
    return f"resume='{path}'"


def expand_seeds(words: list[str]) -> list[str]:
    """``+seeds=N`` (or ``seeds=N``): the same runs with training seeds 0..N-1, as a sweep (``-m seed=0,...,N-1``);
    the data split (``data_seed``) stays, so the replicates share one validation and test set."""
    out, n = [], None
    for w in words:
        key, _, value = w.partition("=")
        if key.lstrip("+") == "seeds" and value:
            if not value.isdigit() or not 1 <= int(value) <= 1000:
                from nnml.errors import NnmlError

                raise NnmlError(f"{w} is not valid; give the number of training seeds, e.g. +seeds=5 (seed=0..4)")
            n = int(value)
        else:
            out.append(w)
    if n is None:
        return words
    if any(w.split("=", 1)[0] == "seed" for w in out):
        from nnml.errors import NnmlError

        raise NnmlError("+seeds=N sweeps seed=0..N-1; drop the seed=... given beside it (or sweep seed=a,b,c yourself)")
    return [*([] if any(w in ("-m", "--multirun") for w in out) else ["-m"]), *out,
            f"seed={','.join(str(s) for s in range(n))}"]


VERBOSE_FLAGS = ("-v", "--verbose")


def run_train_command(words: list[str]) -> None:
    """The whole of ``nnml train WORDS``."""
    from nnml.cli.checks.precheck import NothingToDo, precheck_train, split_hydra_flags
    from nnml.cli.entry import TrainJob, call_hydra, train_main
    from nnml.cli.sweeps import expand_continue

    stop_on_sigterm()
    typed = list(words)
    verbose = any(w in VERBOSE_FLAGS for w in words)  # a sweep's per-epoch lines; a single run prints them anyway
    words = [w for w in words if w not in VERBOSE_FLAGS]
    expanded = {}
    run_cli_guarded(lambda: expanded.update(words=expand_seeds(expand_continue(words)[0])))  # --continue, +seeds=N
    words = expanded["words"]
    flags, rest = split_hydra_flags(words)  # Hydra's flags go first, wherever they were typed
    args = [*flags, *(quote_resume(a) for a in rest)]
    plan = {}

    def check():
        try:
            plan["plan"] = precheck_train(args)
        except NothingToDo as e:  # a finished run resumed as it was: its result is never rewritten
            plan["done"] = str(e)

    run_cli_guarded(check)  # bad input: one line, exit 2, nothing written
    if "done" in plan:
        typer.echo(plan["done"])
        return
    p = plan["plan"]
    for line in p.notes:
        note(line)
    job = TrainJob(argv=["nnml", "train", *typed], cwd=Path.cwd(), verbose=verbose)
    if p.kind == "hydra":  # --cfg, --help, --info: Hydra answers, no run starts
        call_hydra(train_main(job), "nnml train", [*args, *p.extra])
        return
    args = [*p.hydra_flags, *(quote_resume(a) for a in rest)]
    claimed = stop = None
    try:
        extra = list(p.extra)
        if p.kind == "resume":
            extra += p.folder_overrides
        else:
            p.typed = typed
            claimed = run_cli_guarded_value(lambda: claim(p))
            key = "hydra.sweep.dir" if p.kind == "sweep" else "hydra.run.dir"
            extra.append(f"{key}={_hydra_str(claimed.path)}")
        if p.kind == "sweep":
            from nnml.cli.sweeps import SweepStop

            _continuing_note(p, claimed.path)
            # Hydra writes nothing into a job's folder: the job decides first (nnml/cli/sweep_job.py)
            extra.append("hydra.output_subdir=null")
            if not verbose:
                extra.append("hydra/hydra_logging=disabled")  # its launch lines; -v keeps them
            stop = SweepStop(claimed.path).install()
        try:
            call_hydra(train_main(job), "nnml train", [*args, *extra])
        except (SystemExit, KeyboardInterrupt, Stopped) as e:
            code = e.code if isinstance(e, SystemExit) else 130 if isinstance(e, KeyboardInterrupt) else e.exit_code
            if p.kind == "sweep" and code in (130, 143) and _sweep_has_jobs(claimed.path):
                if stop is not None:
                    stop.uninstall()
                stopped_sweep(claimed.path, code if isinstance(code, int) else 1, printed=False)
            if claimed is not None and claimed.created:
                claimed.remove_if_unused()
            if isinstance(e, SystemExit):
                raise
            report_error(f"stopped by {'Ctrl-C' if code == 130 else e.name} before training started")
            raise SystemExit(code) from None
        if p.kind == "sweep":
            stop.uninstall()
            if stop.signum:
                stopped_sweep(claimed.path, 128 + stop.signum, printed=True)
            finish_sweep(claimed.path, words)
        if not p.keep_run and claimed is not None:
            claimed.remove()
            from nnml.tracking.console import short_path

            note(f"removed {short_path(claimed.path)} (keep_run=false, as debug=fast sets: nothing of the run is kept)")
    finally:
        if stop is not None:
            stop.uninstall()
        if claimed is not None:
            claimed.release()


def _continuing_note(p, sweep_dir: Path) -> None:
    """What a sweep into a folder that holds its earlier run will do with each job."""
    from nnml.sweep import jobs as J

    states = list((p.continues or {}).values())
    if not any(s != J.NEW for s in states):
        return
    counts = {s: states.count(s) for s in (J.DONE, J.INTERRUPTED, J.FAILED, J.NEW)}
    parts = [f"{counts[J.DONE]} finished (kept as they are)", f"{counts[J.INTERRUPTED]} interrupted (resume from "
             f"their last checkpoint)", f"{counts[J.FAILED]} failed (run again)", f"{counts[J.NEW]} new"]
    note(f"continuing the sweep in {sweep_dir}: {len(states)} jobs, " + ", ".join(x for x in parts if x[0] != "0"))


def _sweep_has_jobs(sweep_dir: Path) -> bool:
    from nnml.sweep.runs import find_runs

    try:
        return any(p != Path(sweep_dir).resolve() for p in find_runs([sweep_dir]))
    except Exception:
        return False


def stopped_sweep(sweep_dir: Path, code: int, printed: bool) -> None:
    """A sweep stopped by a signal: the summary of what it has (unless Hydra's end callback printed it), the one
    command that finishes it, and the signal's exit code."""
    import signal as _signal

    from nnml.cli.sweeps import continue_command, print_summary
    from nnml.sweep.summary import summarize

    if not printed:
        try:
            print_summary(summarize(sweep_dir))
        except Exception as e:  # a summary must never hide how to continue
            report_error(f"could not write the sweep summary in {sweep_dir}: {type(e).__name__}: {e}")
    try:
        how = "Ctrl-C" if code == 130 else _signal.Signals(code - 128).name
    except ValueError:
        how = f"exit code {code}"
    stopped_note(f"the sweep by {how}. Continue it (finished jobs are kept, interrupted ones resume) with:\n"
                 f"  {continue_command(sweep_dir)}")
    raise SystemExit(code)


def run_cli_guarded_value(make):
    out = []
    run_cli_guarded(lambda: out.append(make()))
    return out[0]


def finish_sweep(sweep_dir: Path, words: list[str]) -> None:
    """After every job returned: the summary was printed by the sweep's callback; a sweep with failed or unfinished
    jobs exits 1, naming the command that runs them again."""
    from nnml.cli.sweeps import continue_command, read_summary

    result = read_summary(sweep_dir)
    failed = int(result.get("failed") or 0)
    if failed:
        report_error(f"{failed} of {result.get('jobs')} sweep jobs failed or did not finish (see the table above); "
                     f"run them again (the finished ones are kept) with: {continue_command(sweep_dir)}")
        raise typer.Exit(1)
