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

from nnml.cli.report import Stopped, note, report_error, run_cli_guarded, stop_on_sigterm

HYDRA_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

# What a run folder holds before its training wrote anything of value.
_STARTUP_FILES = {".hydra", "error.txt", ".nnml.lock"}


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


def run_train_command(words: list[str]) -> None:
    """The whole of ``nnml train WORDS``."""
    from nnml.cli.checks.precheck import NothingToDo, precheck_train, split_hydra_flags
    from nnml.cli.entry import call_hydra, train_app

    stop_on_sigterm()
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
        if not p.keep_run and claimed is not None:
            claimed.remove()
            from nnml.tracking.console import short_path

            note(f"removed {short_path(claimed.path)} (keep_run=false, as debug=fast sets: nothing of the run is kept)")
    finally:
        if claimed is not None:
            claimed.release()


def run_cli_guarded_value(make):
    out = []
    run_cli_guarded(lambda: out.append(make()))
    return out[0]


def _hydra_str(path: Path) -> str:
    """A path as one quoted value of Hydra's override grammar."""
    text = str(path).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


class Claimed:
    """A run or sweep folder this command claimed: created (or found empty), locked for a sweep."""

    def __init__(self, path: Path, created: list[Path], lock=None):
        self.path, self.created_dirs, self.lock = path, created, lock

    @property
    def created(self) -> bool:
        return bool(self.created_dirs)

    def remove_if_unused(self) -> None:
        """Remove the folder (and the parents made for it) when nothing of value was written into it: a refusal
        found inside the job, or a stop before training began."""
        if not self.path.is_dir():
            return
        if any(p.name not in _STARTUP_FILES and p.suffix != ".log" for p in self.path.iterdir()):
            return
        self.remove()

    def remove(self) -> None:
        """Remove the folder and the parents made for it, whatever it holds (``keep_run=false``)."""
        import shutil

        self.release()
        shutil.rmtree(self.path, ignore_errors=True)
        for parent in self.created_dirs[1:]:
            try:
                parent.rmdir()
            except OSError:
                break

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def claim(p) -> Claimed:
    """Create the run or sweep folder of plan ``p``: a fresh name for the default folder (``-1``, ``-2`` when two
    commands start in the same second), the user's own folder as given (checked by the precheck: not a run, not
    locked). A sweep folder is locked for the whole sweep and gets its ``sweep.json``."""
    from nnml.config.resolvers import fresh_dir, missing_parents

    target = Path(p.folder)
    parents = missing_parents(target)
    if p.folder_given:
        created = [] if target.exists() else [target, *parents]
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            from nnml.errors import NnmlError

            raise NnmlError(f"{p.folder_key}={p.folder} cannot be created: {e.strerror.lower()}") from None
        path = target
    else:
        path = Path(fresh_dir(str(target)))
        created = [path, *parents]
    lock = None
    if p.kind == "sweep":
        from nnml.cli.sweeps import write_manifest
        from nnml.config.runfolder import RunFolder

        lock = RunFolder(path).lock()
        write_manifest(path, p)
    return Claimed(path.absolute(), created, lock)


def finish_sweep(sweep_dir: Path, words: list[str]) -> None:
    """After every job returned: the summary was printed by the sweep's callback; a sweep with failed jobs exits 1."""
    from nnml.cli.sweeps import read_summary

    result = read_summary(sweep_dir)
    failed = int(result.get("failed") or 0)
    if failed:
        report_error(f"{failed} of {result.get('jobs')} sweep jobs failed (see the table above)")
        raise typer.Exit(1)
