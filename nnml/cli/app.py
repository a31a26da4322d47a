"""The ``nnml`` command line (Typer). Train, eval and lab hand their arguments to Hydra, which owns the override
grammar (``key=value``, ``-m`` sweeps, ``--cfg job``, ...). Nothing heavy is imported at module level, so
``nnml --help`` answers at once; torch is imported inside the commands that need it."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

HYDRA_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

app = typer.Typer(
    name="nnml",
    help="A command-line experiment runner for neural networks in PyTorch.\n\n"
         "Examples:\n\n"
         "  nnml train                                   # MLP on digits, logged to outputs/\n\n"
         "  nnml train dataset=moons optimizer=sgd optimizer.lr=0.1\n\n"
         "  nnml train -m optimizer=sgd,momentum,adam    # a sweep\n\n"
         "  nnml eval outputs/train/runs/<run> --json\n\n"
         "  nnml list optimizer                          # options with descriptions\n\n"
         "  nnml board                                   # TensorBoard over outputs/",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _complete(ctx: typer.Context, incomplete: str) -> List[str]:
    from nnml.config.catalog import complete_override

    return complete_override(incomplete, ctx.params.get("overrides") or [])


@app.command(context_settings=HYDRA_CONTEXT, add_help_option=False)
def train(
    overrides: Optional[List[str]] = typer.Argument(
        None, autocompletion=_complete, show_default=False,
        help="Hydra flags then overrides: key=value, group=option, -m for sweeps, --cfg job, --help for groups."),
) -> None:
    """Train a model. Overrides compose dataset, model, loss, optimizer, scheduler, trainer and logger.

    nnml train --help lists the config groups (Hydra's help). Examples: nnml train;
    nnml train dataset=moons model.activation=tanh; nnml train -m optimizer=sgd,adam
    """
    from nnml.cli.checks.precheck import precheck_train, split_hydra_flags
    from nnml.cli.entry import call_hydra, run_cli_guarded, train_app
    from nnml.sweep import summary

    flags, rest = split_hydra_flags(list(overrides or []))  # Hydra's flags go first, wherever they were typed
    args = [*flags, *rest]
    from nnml.cli.checks.precheck import NothingToDo

    extra: list[str] = []
    done: list[str] = []

    def check():
        try:
            extra.extend(precheck_train(args))
        except NothingToDo as e:  # a finished run resumed as it was: its result is never rewritten
            done.append(str(e))

    run_cli_guarded(check)  # bad input: one line, exit 2, nothing written
    if done:
        typer.echo(done[0])
        return
    summary.reset()
    call_hydra(train_app, "nnml train", _with_resume([*args, *extra]))
    if summary.failed_jobs():  # a sweep finished but some of its jobs failed (see its summary table)
        from nnml.cli.entry import report_error

        report_error(f"{summary.failed_jobs()} of {summary.LAST['jobs']} sweep jobs failed (see the table above)")
        raise typer.Exit(1)


def _with_resume(args: list[str]) -> list[str]:
    """``resume=RUN_DIR`` continues that run in its own folder: point Hydra's run dir there and keep Hydra from
    writing a new ``.hydra`` over the saved config (the job reloads that config itself)."""
    resume = next((a.split("=", 1)[1] for a in args if a.startswith("resume=")), None)
    if not resume or any(a in ("-m", "--multirun") for a in args) or any(a.startswith("hydra.run.dir=") for a in args):
        return args
    from nnml.config.rundir import run_dir_of, saved_group_choices
    from nnml.errors import NnmlError

    try:
        run_dir = run_dir_of(resume)
    except NnmlError:
        return args  # the job reports the missing run or checkpoint
    # The run's own group choices first, so that keys of its options (dataset.noise of moons) compose.
    return [*saved_group_choices(run_dir), *args, f"hydra.run.dir={run_dir.resolve()}", "hydra.output_subdir=null"]


@app.command(context_settings=HYDRA_CONTEXT, add_help_option=False)
def lab(
    name: Optional[str] = typer.Argument(None, help="activations, gradcheck, trajectories, uat or collapse."),
    overrides: Optional[List[str]] = typer.Argument(None, show_default=False,
                                                    help="The lab's keys as overrides, e.g. target=step."),
) -> None:
    """Lecture-1 labs: nnml lab activations; nnml lab trajectories function=beale; nnml lab uat target=step.

    Results (figures, CSV tables, TensorBoard) go to outputs/lab/NAME/<time>; --json prints the numbers as JSON.
    nnml lab NAME --cfg job shows a lab's keys.
    """
    from nnml.cli.entry import call_hydra, lab_app, lab_hydra_overrides, run_cli_guarded

    args = list(overrides or [])
    if name is not None and name.startswith("-") and name not in ("--help", "-h"):
        # a flag before the lab's name (nnml lab --json uat): the first word that is not a flag is the name
        words = [a for a in args if not a.startswith("-")]
        args = [name, *[a for a in args if a not in words[:1]]]
        name = words[0] if words else None
    if name is None or name in ("--help", "-h"):  # help_option_names is empty so that Hydra sees its own flags
        run_cli_guarded(lambda: typer.echo(_lab_help()))
        return
    if "--help" in args or "-h" in args:
        run_cli_guarded(lambda: typer.echo(_lab_keys_help(name)))
        return
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    from nnml.cli.checks.precheck import split_hydra_flags

    flags, rest = split_hydra_flags(args)

    def job():
        from nnml.config.labs import check_override_keys

        check_override_keys(name, rest)  # one line naming the lab's keys, not Hydra's multi-line message
        call_hydra(lab_app(name, as_json), f"nnml lab {name}", [*flags, *lab_hydra_overrides(name), *rest])

    run_cli_guarded(job)


def _lab_help() -> str:
    from nnml.config.labs import lab_summary
    from nnml.lab import LABS

    lines = ["Usage: nnml lab NAME [--json] [KEY=VALUE ...]", "",
             "Lecture-1 labs; results (figures, CSV, TensorBoard, results.json) go to outputs/lab/NAME/<time>.",
             "--json prints the numbers as JSON; nnml lab NAME --help lists a lab's keys.", "", "Labs:"]
    for lab_name in LABS:
        description, example = lab_summary(lab_name)
        lines += [f"  {lab_name:<13} {description}", f"  {'':<13} e.g. {example}"]
    return "\n".join(lines)


def _lab_keys_help(name: str) -> str:
    from nnml.config.labs import lab_config_file

    text = lab_config_file(name).read_text()
    body = "\n".join(line for line in text.splitlines() if "@package" not in line)
    return f"Usage: nnml lab {name} [--json] [KEY=VALUE ...]\n\nKeys and defaults (configs/lab/{name}.yaml):\n{body}"


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def tune(
    overrides: Optional[List[str]] = typer.Argument(
        None, autocompletion=_complete, show_default=False,
        help="search=NAME (configs/search/), search.KEY.FIELD=value, and training overrides key=value."),
    trials: int = typer.Option(20, "--trials", "-n", help="Trials in the study in all (a rerun adds only the missing)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Trials at once, each in its own process."),
    sampler: str = typer.Option("tpe", help="tpe, random or grid."),
    metric: Optional[str] = typer.Option(None, help="Validation metric to optimize; default the trainer's monitor."),
    direction: Optional[str] = typer.Option(None, help="maximize or minimize; default by the metric."),
    pruner: str = typer.Option("median", help="median (stop trials behind the median) or none."),
    startup_trials: int = typer.Option(5, help="Trials that finish before the pruner may stop any."),
    storage: Optional[str] = typer.Option(None, help="Optuna storage URL; default sqlite in the study folder."),
    study_name: Optional[str] = typer.Option(None, help="Study name and folder name; default the search name."),
    out_dir: Path = typer.Option(Path("outputs/tune"), "--dir", help="Folder that holds the study folders."),
    seed: Optional[int] = typer.Option(None, help="Sampler seed; default the config's seed."),
) -> None:
    """Search hyperparameters with Optuna: nnml tune --trials 30 search=lr_wd dataset=moons

    Each trial is a run in outputs/tune/<study>/trial_NNNN; the same command again continues the study.
    Ends with a leaderboard, best.yaml (nnml train -cd outputs/tune/<study> -cn best) and figures.
    """
    from nnml.cli.entry import run_cli_guarded

    def job():
        from nnml.sweep.tune import TuneOptions
        from nnml.sweep.tune import tune as run_tune

        result = run_tune(TuneOptions(trials=trials, jobs=jobs, sampler=sampler, metric=metric, direction=direction,
                                      pruner=pruner, startup_trials=startup_trials, storage=storage,
                                      study_name=study_name, out_dir=out_dir, seed=seed,
                                      overrides=list(overrides or [])))
        if result["best_trial"] is None:
            from nnml.errors import NnmlError

            raise NnmlError("no trial completed; see the failed trials' error.txt", exit_code=1)

    run_cli_guarded(job)


@app.command()
def compare(
    paths: Optional[List[Path]] = typer.Argument(None, help="Run, sweep or study folders (default outputs/)."),
    metric: Optional[List[str]] = typer.Option(None, "--metric", "-m",
                                               help="Metric to rank by (repeat for more columns); default the "
                                                    "runs' monitored metric and its test/ counterpart."),
    sort: str = typer.Option("auto", help="desc, asc, or auto (accuracy-like descending, losses ascending)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, markdown or json."),
    plot: Optional[Path] = typer.Option(None, help="Also draw all runs' learning curves into this PNG."),
    show_all: bool = typer.Option(False, "--all", help="Failed and unfinished runs in the table too (by default "
                                                       "they are listed apart, below it)."),
) -> None:
    """Runs side by side, best first, with the hyperparameters that differ: nnml compare outputs/train/multiruns/<sweep>"""
    from nnml.cli.entry import run_cli_guarded

    def job():
        from nnml.sweep.compare import compare as run_compare

        run_compare(list(paths or []), metrics=list(metric or []), sort=sort, fmt=fmt, plot=plot, show_all=show_all)

    run_cli_guarded(job)


@app.command(name="eval")
def eval_(
    run_dir: Path = typer.Argument(..., help="A run folder written by nnml train."),
    checkpoint: str = typer.Option("best", "--checkpoint", "-c", help="best, last, a file in the run's checkpoints/ (epoch-0007.pt), or a path."),
    split: str = typer.Option("test", "--split", "-s", help="test, val or train."),
    json_out: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object on stdout."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key=value overrides of the run's config, e.g. "
                                                    "trainer.device=cpu dataset.eval_batch_size=512."),
) -> None:
    """Evaluate a finished run's checkpoint on a split: nnml eval outputs/train/runs/<run> --json"""
    from nnml.cli.entry import run_cli_guarded

    def job():
        _failed_run_note(run_dir, checkpoint)
        from nnml.accelerate.artifacts import evaluate_variant, variant_folder
        from nnml.run.restore import check_split, evaluate_run, print_eval

        check_split(split)
        variant = variant_folder(run_dir, checkpoint)  # accelerated/<variant>, written by nnml accelerate
        if variant is not None:
            found = evaluate_variant(run_dir, variant, split, list(overrides or []))
            metrics = {f"{split}/{k}": v for k, v in found.items()}
        else:
            metrics = evaluate_run(run_dir, checkpoint=checkpoint, split=split, overrides=list(overrides or []))
        print_eval(metrics, run_dir, split, checkpoint, json_out)

    run_cli_guarded(job)


def _failed_run_note(run_dir: Path, checkpoint: str) -> None:
    """A run that failed says so with its own error.txt: refused when it left no checkpoint to evaluate, else a
    note on stderr before the numbers of what it saved."""
    err = Path(run_dir) / "error.txt"
    if not err.is_file():
        return
    from nnml.errors import NnmlError

    text = " ".join(err.read_text().split()) or "no message"
    has_ckpt = checkpoint not in ("best", "last") or (Path(run_dir) / "checkpoints" / f"{checkpoint}.pt").is_file()
    if not has_ckpt:
        raise NnmlError(f"{run_dir} is a failed run with no {checkpoint} checkpoint to evaluate; its error.txt "
                        f"says: {text}")
    typer.echo(f"note: {run_dir} failed ({text}); evaluating the {checkpoint} checkpoint it saved", err=True)


@app.command(name="list")
def list_(group: Optional[str] = typer.Argument(None, help="Only this group, e.g. optimizer."),
          config_dir: Optional[Path] = typer.Option(None, "--config-dir", "-cd",
                                                    help="Also list the options in this folder of your own configs "
                                                         "(as given to nnml train -cd DIR).")) -> None:
    """Every config group and its options with a one-line description: nnml list, nnml list optimizer"""
    from rich.table import Table

    from nnml.config.catalog import NOT_TRAIN_GROUPS, all_groups, description, option_files, set_user_dirs, source
    from nnml.errors import bad_choice
    from nnml.tracking.console import make_console, short_path

    if config_dir is not None and not config_dir.is_dir():
        from nnml.cli.entry import report_error

        report_error(f"-cd {config_dir}: no such folder; -cd names a folder of your own configs")
        raise typer.Exit(2)
    set_user_dirs([config_dir] if config_dir else [])
    gs = all_groups()
    if group is not None and group not in gs:
        from nnml.cli.entry import report_error

        report_error(str(bad_choice("group", group, gs)))
        raise typer.Exit(2)
    table = Table(title="nnml config groups (choose with group=option)", show_lines=False)
    table.add_column("group", style="bold")
    table.add_column("option", style="cyan")
    table.add_column("description")
    if config_dir:
        table.add_column("from")
    for g in [group] if group else gs:
        extra = [""] if config_dir else []
        if g in NOT_TRAIN_GROUPS:
            table.add_row(g, "", f"(not a train group: {NOT_TRAIN_GROUPS[g]})", *extra)
        for i, (name, path) in enumerate(option_files(g).items()):
            where = source(path)
            origin = ["shipped" if where == "shipped" else short_path(where)] if config_dir else []
            table.add_row(g if i == 0 and g not in NOT_TRAIN_GROUPS else "", name, description(path), *origin)
    make_console().print(table)


@app.command()
def board(
    path: Path = typer.Argument(Path("outputs"), help="Folder of runs (default outputs/)."),
    port: int = typer.Option(6006, help="Port; 0 picks a free one."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 127.0.0.1 keeps it private to this machine."),
) -> None:
    """Start TensorBoard over outputs/ (or PATH) and print its URL: nnml board outputs/train/multiruns"""
    from nnml.cli.entry import run_cli_guarded

    def job():
        from nnml.cli.board import serve

        serve(path, host=host, port=port)

    run_cli_guarded(job)


def _register_commands() -> None:
    """Commands in their own modules of this package, each with ``register(app)``; they import only typer and the
    standard library at module level, so the CLI still starts at once."""
    from nnml.cli import accelerate, diff, predict, recommend, sample, summary, sweep_plot

    for module in (accelerate, diff, predict, recommend, sample, summary, sweep_plot):
        module.register(app)


_register_commands()


def main() -> None:
    from nnml.engine import cpuload

    # trainer.num_threads=auto measures how busy the cores are from here to the model's first step (imports,
    # composition, data: usually seconds), with no waiting of its own.
    cpuload.mark()
    try:
        app()
    except SystemExit as e:
        _exit_now(e.code)
        raise


def _exit_now(code) -> None:
    """End the process without Python's teardown once a command that loaded torch has finished: unloading torch's
    libraries took 1.3-1.4 s after a default ``nnml train`` of 7-8 s (measured: atexit handlers and the garbage
    collector ~0.2 s of it). By then everything nnml writes is closed (atomic files, TensorBoard writers, logs
    flushed here). Skipped while a child process or another non-daemon thread is alive (a normal exit waits for
    those) and when ``NNML_SLOW_EXIT=1``."""
    import os
    import sys
    import threading

    if "torch" not in sys.modules or os.environ.get("NNML_SLOW_EXIT") == "1":
        return
    if any(t is not threading.main_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    try:
        tasks = os.listdir("/proc/self/task")
        if any(open(f"/proc/self/task/{t}/children").read().strip() for t in tasks):
            return
    except OSError:
        return  # not Linux: no way to see child processes cheaply
    import logging

    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what sys.exit("message") prints
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    main()
