"""``nnml tune``: check the command line like ``nnml train`` checks its own, compose the study's base config, run
the study (:mod:`nnml.sweep.tune`) and print its trials and leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nnml.cli.train import complete


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def tune(
        overrides: Optional[List[str]] = typer.Argument(
            None, autocompletion=complete, show_default=False,
            help="search=NAME (configs/search/), search.KEY.FIELD=value, and training overrides key=value."),
        trials: int = typer.Option(20, "--trials", "-n", help="Trials in the study in all (a rerun adds only the "
                                                               "missing)."),
        jobs: int = typer.Option(1, "--jobs", "-j", help="Trials at once, each in its own process."),
        sampler: str = typer.Option("tpe", help="tpe, random or grid."),
        metric: Optional[str] = typer.Option(None, help="Validation metric to optimize; default the trainer's "
                                                        "monitor."),
        direction: Optional[str] = typer.Option(None, help="maximize or minimize; default by the metric."),
        pruner: str = typer.Option("median", help="median (stop trials behind the median) or none."),
        startup_trials: int = typer.Option(5, help="Trials that finish before the pruner may stop any."),
        storage: Optional[str] = typer.Option(None, help="Optuna storage URL; default sqlite in the study folder."),
        study_name: Optional[str] = typer.Option(None, help="Study name and folder name; default the search name."),
        out_dir: Path = typer.Option(Path("outputs/tune"), "--dir", help="Folder that holds the study folders."),
        seed: Optional[int] = typer.Option(None, help="Sampler seed; default the config's seed."),
        repeats: int = typer.Option(1, help="Training seeds per trial (seed=0..K-1, one split): a trial's score is "
                                            "the mean of its K runs, and the leaderboard says which trials are "
                                            "within seed noise of the best."),
    ) -> None:
        """Search hyperparameters with Optuna: nnml tune --trials 30 search=lr_wd dataset=moons

        Each trial is a run in outputs/tune/<study>/trial_NNNN; the same command again continues the study.
        Ends with a leaderboard, best.yaml (nnml train -cd outputs/tune/<study> -cn best) and figures.
        """
        from nnml.cli.report import run_cli_guarded, stop_on_sigterm, typed_command
        from nnml.sweep.tune import TuneOptions

        stop_on_sigterm()
        opts = TuneOptions(trials=trials, jobs=jobs, sampler=sampler, metric=metric, direction=direction,
                           pruner=pruner, startup_trials=startup_trials, storage=storage, study_name=study_name,
                           out_dir=out_dir, seed=seed, overrides=list(overrides or []), repeats=repeats,
                           argv=typed_command("tune", list(overrides or [])), cwd=str(Path.cwd()))
        run_cli_guarded(lambda: run(opts))


class ConsoleReport:
    """What a study tells, on stderr-friendly lines: the header, one line per trial, notes."""

    def __init__(self, console):
        self.console = console

    def line(self, text: str) -> None:
        self.console.print(text, soft_wrap=True, highlight=False, markup=False)

    def trial(self, number: int, params: dict, result: dict, seconds: float) -> None:
        from rich.markup import escape

        shown = "  ".join(f"{k}={_short(v)}" for k, v in params.items())
        if result["status"] == "complete":
            seeds = f" (mean of {result['n']} seeds)" if (result.get("n") or 1) > 1 else ""
            what = f"{result['metric']} {result['value']:.4f}{seeds}"
        elif result["status"] == "pruned":
            what = f"[yellow]pruned[/yellow] after {result.get('epochs')} epochs"
        else:
            what = f"[red]failed[/red]: {escape(result['error'])}"
        self.console.print(f"trial {number:>3}  {escape(shown)}  {what}  ({seconds:.1f} s)", soft_wrap=True,
                           highlight=False)


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run(opts) -> dict:
    from omegaconf import open_dict

    from nnml.cli.checks.precheck import compose_or_explain, parse_overrides
    from nnml.cli.checks.semantic import check_config
    from nnml.cli.sweeps import print_summary
    from nnml.cli.tables import table_console
    from nnml.config.compose import Composer
    from nnml.config.targets import Trust
    from nnml.config.validate import validate
    from nnml.errors import NnmlError
    from nnml.sweep import search_space as S
    from nnml.sweep.tune import check_keys, check_options, tune
    from nnml.tracking.console import short_path

    check_options(opts)
    search_name, space_ovs, train_ovs = S.split_overrides(list(opts.overrides))
    space = S.validate(S.apply_overrides(S.load(search_name), space_ovs))
    parse_overrides(list(train_ovs))
    composer = Composer()

    def compose_trial(overrides):
        """(config, group choices) composed like ``nnml train`` would, without a run folder."""
        cfg = compose_or_explain(composer, list(overrides), return_hydra_config=True)
        choices = {k: str(v) for k, v in cfg.hydra.runtime.choices.items()
                   if not str(k).startswith("hydra/") and v is not None}
        with open_dict(cfg):
            del cfg["hydra"]  # a trial's folder is chosen by the study
        return cfg, choices

    with composer:
        base, choices = compose_trial(train_ovs)
        validate(base)
        trust = Trust.own(base)
        check_config(base, loss_name=str(choices.get("loss") or ""), choices=choices, trust=trust)
        check_keys(base, choices, space)
        report = ConsoleReport(table_console())
        result = tune(opts, search_name, space, train_ovs, base, compose_trial, trust, report)
    counts = f"{result['complete']} complete, {result['pruned']} pruned, {result['fail']} failed"
    print_summary(result["summary"], title=f"Study {Path(result['study_dir']).name}: {counts}; best "
                                           f"{result['metric']} first", show_run=True)
    from nnml.sweep.summary import write_board

    try:  # the study's HParams experiment (its trials write none) and, with --repeats, the seeds' band charts
        write_board(result["summary"])
    except Exception as e:  # the leaderboard and best.yaml stand without them
        report.line(f"could not write the study's TensorBoard charts: {type(e).__name__}: {e}")
    if result["best_trial"] is None:
        raise NnmlError("no trial completed; see the failed trials' error.txt", exit_code=1)
    stands = stands_out(result["summary"], result["metric"])
    if stands:
        report.line(stands)
    params = ", ".join(f"{k}={v}" for k, v in result.get("best_params", {}).items())
    report.line(f"best: trial {result['best_trial']}, {result['metric']} {result['best_value']:.4f}, {params}")
    report.line(f"retrain it: nnml train -cd {short_path(result['study_dir'])} -cn best")
    return result


def stands_out(summary: dict, metric: str) -> str | None:
    """Whether the best trial stands out from the others beyond seed noise (a study with --repeats), in words."""
    rows = summary.get("rows") or []
    if not summary.get("replicated") or len(rows) < 2:
        return None

    def trials(row) -> str:
        return ", ".join(dict.fromkeys(r.split("/")[0].replace("trial_", "").lstrip("0") or "0"
                                       for r in str(row.get("runs") or "").split()))

    status = {row["rank"]: row.get(f"{metric}_vs_best") for row in rows}
    close = [row for row in rows if status[row["rank"]] in ("indistinguishable", "untested")]
    head = f"best trial {trials(rows[0])} (mean {metric} {rows[0][f'{metric}_mean']:.4f})"
    if not close:
        return f"{head} stands out: every other trial is worse beyond seed noise (Welch, Holm-adjusted)"
    return (f"{head} does not stand out: {len(close)} other trial(s) within seed noise of it "
            f"(Welch, Holm-adjusted): trial {', '.join(trials(r) for r in close[:8])}")
