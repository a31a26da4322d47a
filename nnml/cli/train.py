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
from nnml.cli.report import Stopped, note, report_error, run_cli_guarded, stop_on_sigterm

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


def run_train_command(words: list[str]) -> None:
    """The whole of ``nnml train WORDS``."""
    from nnml.cli.checks.precheck import NothingToDo, precheck_train, split_hydra_flags
    from nnml.cli.entry import call_hydra, train_app

    stop_on_sigterm()
    seeded = []
    run_cli_guarded(lambda: seeded.append(expand_seeds(words)))
    flags, rest = split_hydra_flags(seeded[0])  # Hydra's flags go first, wherever they were typed
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
    if p.kind == "hydra":  # --cfg, --help, --info: Hydra answers, no run starts
        call_hydra(train_app, "nnml train", [*args, *p.extra])
        return
    args = [*p.hydra_flags, *(quote_resume(a) for a in rest)]
    claimed = None
    try:
        extra = list(p.extra)
        if p.kind == "resume":
            extra += p.folder_overrides
        else:
            claimed = run_cli_guarded_value(lambda: claim(p))
            key = "hydra.sweep.dir" if p.kind == "sweep" else "hydra.run.dir"
            extra.append(f"{key}={_hydra_str(claimed.path)}")
        try:
            call_hydra(train_app, "nnml train", [*args, *extra])
        except (SystemExit, KeyboardInterrupt, Stopped) as e:
            if claimed is not None and claimed.created:
                claimed.remove_if_unused()
            if isinstance(e, SystemExit):
                raise
            code = 130 if isinstance(e, KeyboardInterrupt) else e.exit_code
            report_error(f"stopped by {'Ctrl-C' if code == 130 else e.name} before training started")
            raise SystemExit(code) from None
        if p.kind == "sweep":
            finish_sweep(claimed.path, words)
    finally:
        if claimed is not None:
            claimed.release()


def run_cli_guarded_value(make):
    out = []
    run_cli_guarded(lambda: out.append(make()))
    return out[0]


def finish_sweep(sweep_dir: Path, words: list[str]) -> None:
    """After every job returned: the summary was printed by the sweep's callback; a sweep with failed jobs exits 1."""
    from nnml.cli.sweeps import read_summary

    result = read_summary(sweep_dir)
    failed = int(result.get("failed") or 0)
    if failed:
        report_error(f"{failed} of {result.get('jobs')} sweep jobs failed (see the table above)")
        raise typer.Exit(1)
