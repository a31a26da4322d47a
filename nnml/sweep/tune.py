"""``nnml tune``: hyperparameter search with Optuna, driven through ``study.ask()`` / ``study.tell()``.

Each trial is a normal nnml run in ``<study dir>/trial_NNNN/`` (``.hydra/config.yaml``, metrics.json, checkpoints,
TensorBoard events), so ``nnml eval``, ``nnml compare`` and ``nnml board`` work on trials. A trial's config is
composed with Hydra's compose API from the command's overrides plus the sampled values. The study lives in an
SQLite file in the study folder unless ``--storage`` names another: running the same command again continues it
(finished trials are kept; a trial cut off by a crash or kill is marked failed and its point tried again).
A median pruner stops trials whose per-epoch validation metric falls behind; a crashing trial is recorded as failed
and the search goes on. ``--repeats K`` trains each trial with the training seeds 0..K-1 (``trial_NNNN/seed=S/``,
one split: ``data_seed``) and scores it by the mean of its K values; the pruner watches the first seed; the
leaderboard is then one row per trial with the mean ± std over its seeds and whether it can be told apart from the
best one (:mod:`nnml.sweep.groups`). At the end: a leaderboard, ``best.yaml`` (``nnml train -cd STUDY -cn best`` retrains the best
trial) and Optuna's history and importance figures.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from nnml.engine.callbacks import Callback, StopTraining
from nnml.errors import NnmlError, bad_choice
from nnml.sweep import search_space as S

SAMPLERS = ("grid", "random", "tpe")
PRUNERS = ("median", "none")


@dataclass
class TuneOptions:
    trials: int = 20
    jobs: int = 1
    sampler: str = "tpe"
    metric: str | None = None
    direction: str | None = None
    pruner: str = "median"
    startup_trials: int = 5
    storage: str | None = None
    study_name: str | None = None
    out_dir: Path = Path("outputs/tune")
    seed: int | None = None
    overrides: list = field(default_factory=list)
    argv: list = field(default_factory=list)  # the command as typed, and the folder it was typed in: each trial's
    cwd: str = ""  # provenance.json
    repeats: int = 1


class OptunaPruning(Callback):
    """Reports the monitored validation metric after each epoch; stops the run when Optuna says to prune."""

    def __init__(self, trial, metric: str):
        self.trial, self.metric = trial, metric
        self.pruned_at = None

    def on_epoch_end(self, state, metrics) -> None:
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), state.epoch)
        if self.trial.should_prune():
            self.pruned_at = state.epoch
            raise StopTraining(f"pruned by optuna at epoch {state.epoch} ({self.metric} {value:.4g})")


# ---------------------------------------------------------------- configs

def check_keys(base, choices: dict, space: dict) -> None:
    from omegaconf import OmegaConf

    from nnml.errors import did_you_mean
    from nnml.sweep.runs import flatten

    known = flatten(OmegaConf.to_container(base, resolve=False))
    for key in space:
        if key in choices:
            continue
        if OmegaConf.select(base, key, default="__missing__") == "__missing__":
            raise NnmlError(f"search.{key}: the config has no key {key}{did_you_mean(key, list(known) + list(choices))}"
                            f"; search over existing keys (nnml train --cfg job shows them) or group names")


def hydra_section() -> dict:
    """train.yaml's own ``hydra:`` settings (run and sweep folders, callbacks), uninterpolated."""
    from omegaconf import OmegaConf

    from nnml.config import config_dir

    raw = OmegaConf.to_container(OmegaConf.load(Path(config_dir()) / "train.yaml"), resolve=False)
    return raw.get("hydra", {})


def write_best(study_dir: Path, trial_dir: Path, number: int, metric: str, value: float, seeds: int = 1) -> Path:
    """``best.yaml``: the best trial's full config as a primary config, with nnml's hydra settings, so that
    ``nnml train -cd STUDY_DIR -cn best`` retrains it into outputs/<task_name>/runs/ like any run."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(OmegaConf.load(trial_dir / ".hydra" / "config.yaml"), resolve=False)
    cfg.pop("defaults", None)
    doc = {"defaults": [{"override hydra/job_logging": "nnml"}, {"override hydra/help": "nnml"}, "_self_"],
           **cfg, "hydra": hydra_section()}
    mean = f" (the mean of its {seeds} seeds; this is its seed {cfg.get('seed')})" if seeds > 1 else ""
    header = (f"# Best trial of study {study_dir.name}: trial {number}, {metric} {value:.6g}{mean}. Retrain it with\n"
              f"#   nnml train -cd {study_dir} -cn best\n")
    path = study_dir / "best.yaml"
    path.write_text(header + OmegaConf.to_yaml(OmegaConf.create(doc)))
    return path


def write_trial_files(trial_dir: Path, cfg, choices: dict, overrides: list[str]) -> None:
    from omegaconf import OmegaConf

    h = trial_dir / ".hydra"
    h.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, h / "config.yaml", resolve=True)
    OmegaConf.save(OmegaConf.create(list(overrides)), h / "overrides.yaml")
    # What compare and the HParams view read from a Hydra job: its group choices and overrides.
    OmegaConf.save(OmegaConf.create({"hydra": {"runtime": {"choices": choices}, "overrides": {"task": overrides}}}),
                   h / "hydra.yaml")


# ---------------------------------------------------------------- one trial

def trial_runs(study_dir: Path, number: int) -> list[Path]:
    """The run folders of trial ``number``: ``trial_NNNN`` itself, or its ``seed=S`` folders (``--repeats``)."""
    trial_dir = Path(study_dir) / f"trial_{number:04d}"
    seeds = sorted(trial_dir.glob("seed=*"), key=lambda p: int(p.name.split("=", 1)[1]))
    return seeds or [trial_dir]


def run_trial(spec: dict, study=None) -> dict:
    """Train one trial into its folder (or each of its seeds' folders, ``spec["run_dirs"]``); returns {status:
    complete|pruned|fail, value (the mean over the seeds), error, epochs, n}.

    ``study`` is the live study in a one-job search; parallel workers load it from storage. The trial's config
    was composed and written by this command a moment ago (not read from a folder of unknown origin): it keeps
    the trust of the study's own config, passed in ``spec``. With several seeds the pruner watches the first (a
    trial reports each epoch once)."""
    import optuna

    if study is None:
        study = optuna.load_study(study_name=spec["study_name"], storage=spec["storage"],
                                  pruner=make_pruner(spec["pruner"], spec["startup_trials"]))
    trial = optuna.trial.Trial(study, spec["trial_id"])
    values = []
    for i, run_dir in enumerate(spec.get("run_dirs") or [spec["trial_dir"]]):
        pruning = OptunaPruning(trial, spec["metric"]) if spec["pruner"] != "none" and i == 0 else None
        result = _train_one(spec, run_dir, trial.number, pruning)
        if result["status"] != "complete":
            return result
        values.append(result["value"])
    return {**result, "value": sum(values) / len(values), "n": len(values)}


def _train_one(spec: dict, run_dir, number: int, pruning) -> dict:
    from omegaconf import OmegaConf

    from nnml.config.runfolder import RunFolder
    from nnml.config.targets import Trust
    from nnml.run.train import RunContext, train
    from nnml.tracking.progress import TrialProgress

    run = RunFolder(run_dir)
    cfg = OmegaConf.load(run.config_file)
    run.clear_error()
    # The study's keys lead the HParams columns, as a sweep's do (nnml/tracking/tensorboard.py).
    ctx = RunContext(run_dir=run.path, trust=Trust(spec["trust"]["prefixes"], spec["trust"]["targets"]),
                     choices=spec["choices"], overrides=list(spec["overrides"]), swept=list(spec["keys"]),
                     parallel_jobs=int(spec.get("parallel_jobs") or 1), argv=list(spec.get("argv") or []),
                     cwd=str(spec.get("cwd") or ""))
    try:
        progress = TrialProgress(number, spec["metric"])
        metrics = train(cfg, ctx, callbacks=[c for c in (pruning, progress) if c], quiet=True)
    except Exception as e:  # a crashing trial is one failed point, not the end of the search
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        run.write_error(f"{type(e).__name__}: {first}")
        return {"status": "fail", "value": None, "error": f"{type(e).__name__}: {first}"}
    value = metrics.get(spec["metric"])
    if pruning is not None and pruning.pruned_at is not None:
        return {"status": "pruned", "value": value, "epochs": metrics.get("epochs"), "error": ""}
    if value is None or not math.isfinite(value):
        msg = f"{spec['metric']} is {value} (metrics: {', '.join(k for k in metrics if '/' in k)})"
        run.write_error(msg)
        return {"status": "fail", "value": None, "error": msg}
    return {"status": "complete", "value": float(value), "epochs": metrics.get("epochs"), "error": ""}


def _worker(spec: dict) -> dict:
    warnings.filterwarnings("ignore", module="optuna")
    return run_trial(spec)


# ---------------------------------------------------------------- the study

def make_sampler(name: str, space: dict, seed: int | None):
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(S.grid(space), seed=seed)
    raise bad_choice("--sampler", name, SAMPLERS)


def make_pruner(name: str, startup_trials: int):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise bad_choice("--pruner", name, PRUNERS)


class TuneReport:
    """What a study tells as it goes (``nnml tune`` prints it; every method may be left as it is)."""

    def line(self, text: str) -> None:
        """A plain line: the study's header, a note."""

    def trial(self, number: int, params: dict, result: dict, seconds: float) -> None:
        """A trial ended: ``result`` holds status (complete, pruned, fail), value, epochs, error, metric."""


def choose_metric(base, given: str | None, trust) -> tuple[str, dict]:
    """(metric, the task's directions): ``--metric``, or the trainer's monitored metric (trainer.monitor, else the
    task's default); refused with a close match unless it is a validation metric of the dataset's task."""
    from nnml.config.seeds import data_seed
    from nnml.errors import did_you_mean
    from nnml.run.build import build_data, build_task

    monitor = str(base.trainer.get("monitor", "auto"))
    metric = given or (monitor if monitor != "auto" else None)
    if metric is not None and metric.split("/")[0] != "val":
        raise NnmlError(f"--metric {metric}: tune on a validation metric (val/acc, val/loss, val/f1, val/r2, ...); "
                        f"test/ metrics are for the final report")
    data = build_data(base.dataset, seed=data_seed(base), trust=trust)
    task_obj = build_task(base, data, trust)
    task = getattr(data, "task", type(task_obj).__name__)
    directions = dict(task_obj.metric_directions())  # the task's own word on what "better" means
    if metric is None:
        return task_obj.default_monitor, directions
    valid = [f"val/{n}" for n in directions]
    if metric not in valid:
        flag = "--metric" if given else "trainer.monitor"
        raise NnmlError(f"{flag} {metric} is not a validation metric of this {task} task"
                        f"{did_you_mean(metric, valid)}; choose one of: {', '.join(valid)}")
    return metric, directions


def check_options(opts: TuneOptions) -> None:
    if opts.trials < 1:
        raise NnmlError(f"--trials {opts.trials}: give at least 1")
    if opts.jobs < 1:
        raise NnmlError(f"--jobs {opts.jobs}: give at least 1")
    if opts.sampler not in SAMPLERS:
        raise bad_choice("--sampler", opts.sampler, SAMPLERS)
    if opts.pruner not in PRUNERS:
        raise bad_choice("--pruner", opts.pruner, PRUNERS)
    if opts.direction not in (None, "maximize", "minimize"):
        raise bad_choice("--direction", opts.direction, ("maximize", "minimize"))
    if opts.repeats < 1:
        raise NnmlError(f"--repeats {opts.repeats}: give at least 1 (the training seeds per trial, e.g. --repeats 3)")
    if opts.repeats > 1 and any(o.split("=", 1)[0].lstrip("+") in ("seed", "seeds") for o in opts.overrides):
        raise NnmlError("--repeats K trains each trial with seed=0..K-1; drop the seed=... given beside it")


def tune(opts: TuneOptions, search_name: str, space: dict, train_ovs: list[str], base, compose_trial, trust,
         report: TuneReport | None = None) -> dict:
    """Run (or continue) the study: ``base`` is the composed config of ``train_ovs`` (checked by the command),
    ``compose_trial(overrides)`` composes one trial's ``(config, choices)``, ``trust`` is the base config's own.
    The study folder is locked while this runs: one ``nnml tune`` per study at a time."""
    import optuna

    from nnml.config.runfolder import RunFolder
    from nnml.engine.metrics import direction as metric_direction

    report = report or TuneReport()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric, directions = choose_metric(base, opts.metric, trust)  # before the saved settings: a bad name is named
    direction = opts.direction or ("maximize" if metric_direction(metric, directions) == "max" else "minimize")
    seed = int(base.seed) if opts.seed is None else opts.seed

    name = opts.study_name or Path(search_name).stem
    study_dir = Path(opts.out_dir) / name
    study_dir.mkdir(parents=True, exist_ok=True)
    lock = RunFolder(study_dir).lock()  # two tune processes on one study would corrupt it
    try:
        return _study(opts, name, study_dir, space, train_ovs, metric, direction, seed, compose_trial, trust,
                      report)
    finally:
        lock.release()


def _study(opts, name, study_dir, space, train_ovs, metric, direction, seed, compose_trial, trust, report) -> dict:
    import optuna

    storage = opts.storage or f"sqlite:///{(study_dir / 'study.db').resolve()}"
    settings = {"overrides": list(train_ovs), "space": space, "metric": metric,
                **({"repeats": opts.repeats} if opts.repeats > 1 else {})}
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True,
                                    sampler=make_sampler(opts.sampler, space, seed),
                                    pruner=make_pruner(opts.pruner, opts.startup_trials))
    except ValueError as e:
        raise NnmlError(f"--storage {storage}: {e}") from None
    saved = study.user_attrs.get("nnml")
    if saved is None:
        study.set_user_attr("nnml", settings)
    elif saved != settings:
        diff = [k for k in {**saved, **settings} if saved.get(k) != settings.get(k)]
        raise NnmlError(f"study {name} ({storage}) was started with other {', '.join(diff)} "
                        f"({'; '.join(f'{k}: {saved.get(k)}' for k in diff)}); rerun that command to continue it, "
                        f"or give a new --study-name")
    if study.direction.name.lower() != direction:
        raise NnmlError(f"study {name} maximizes/minimizes differently ({study.direction.name.lower()}) "
                        f"than --direction {direction}; give a new --study-name")

    # A continued study must draw new points: a sampler seeded as in the earlier run would repeat its draws.
    # Offsetting the seed by the trials already stored keeps a fresh study (offset 0) reproducible.
    study.sampler = make_sampler(opts.sampler, space, seed + len(study.get_trials(deepcopy=False)))
    interrupted = _recover_interrupted(study, space, study_dir)
    repeats = opts.repeats
    target = opts.trials
    if opts.sampler == "grid" and target > S.grid_size(space):
        report.line(f"grid of {S.grid_size(space)} points: running {S.grid_size(space)} trials, not {target}")
        target = S.grid_size(space)
    done = _finished(study, interrupted)
    todo = max(0, target - len(done))
    report.line(f"nnml tune  study {name} in {study_dir}: {len(done)} trials finished, {todo} to run "
                f"({opts.sampler} sampler, {opts.pruner} pruner, {direction} {metric}, {opts.jobs} at once)")

    common = {"study_name": name, "storage": storage, "metric": metric, "pruner": opts.pruner,
              "startup_trials": opts.startup_trials, "keys": list(space) + (["seed"] if repeats > 1 else []),
              "parallel_jobs": opts.jobs if opts.jobs > 1 else None, "argv": list(opts.argv), "cwd": opts.cwd,
              "trust": {"prefixes": list(trust.prefixes), "targets": sorted(trust.targets)}}

    def ask():
        trial = study.ask()
        params = {k: S.suggest(trial, k, spec) for k, spec in space.items()}
        sampled = [S.to_override(k, v) for k, v in params.items()]
        trial_dir = study_dir / f"trial_{trial.number:04d}"
        seeds = [[]] if repeats == 1 else [[f"seed={r}"] for r in range(repeats)]
        run_dirs = [trial_dir] if repeats == 1 else [trial_dir / f"seed={r}" for r in range(repeats)]
        for run_dir, seed_ovs in zip(run_dirs, seeds):
            cfg, ch = compose_trial([*train_ovs, *sampled, *seed_ovs])
            write_trial_files(run_dir, cfg, ch, [*train_ovs, *sampled, *seed_ovs])
        return trial, dict(common, trial_id=trial._trial_id, trial_dir=str(trial_dir), choices=ch,
                           overrides=[*train_ovs, *sampled], run_dirs=[str(d) for d in run_dirs]), params

    def tell(trial, params, result, t0):
        state = {"complete": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED,
                 "fail": optuna.trial.TrialState.FAIL}[result["status"]]
        try:
            study.tell(trial, result["value"] if state == optuna.trial.TrialState.COMPLETE else None, state=state)
        except RuntimeError as e:
            # The grid sampler calls study.stop() after the last grid point, which only works inside
            # study.optimize(); the trial's state is stored before that (optuna's tell saves it in a finally).
            if "Study.stop" not in str(e):
                raise
        report.trial(trial.number, params, {**result, "metric": metric}, time.perf_counter() - t0)

    if todo and opts.jobs == 1:
        for _ in range(todo):
            trial, spec, params = ask()
            t0 = time.perf_counter()
            tell(trial, params, run_trial(spec, study), t0)
    elif todo:
        _run_parallel(opts.jobs, todo, ask, tell)

    return finish(study, study_dir, metric, report)


def _run_parallel(jobs: int, todo: int, ask, tell) -> None:
    """Trials in ``jobs`` worker processes (spawned: no torch or thread state shared); this process samples and
    records, the workers report per-epoch values to the shared storage for pruning."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    launched, pending = 0, {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        while launched < todo or pending:
            while launched < todo and len(pending) < jobs:
                trial, spec, params = ask()
                pending[pool.submit(_worker, spec)] = (trial, params, time.perf_counter())
                launched += 1
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                trial, params, t0 = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as e:  # the worker process itself died
                    result = {"status": "fail", "value": None, "error": f"{type(e).__name__}: {e}"}
                tell(trial, params, result, t0)


def _finished(study, interrupted) -> list:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    return [t for t in study.get_trials(deepcopy=False) if t.state in states and t.number not in interrupted]


def _recover_interrupted(study, space: dict, study_dir: Path) -> set:
    """Trials left RUNNING by a killed or crashed ``nnml tune``: mark them failed, try their points again, and do
    not count them. (Run one ``nnml tune`` per study at a time: another one's running trials would look the same.)"""
    import optuna

    interrupted = set(study.user_attrs.get("interrupted", []))
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        interrupted.add(t.number)
        for run_dir in trial_runs(study_dir, t.number):
            if run_dir.is_dir() and not (run_dir / "metrics.json").is_file():
                (run_dir / "error.txt").write_text("interrupted: the tune process stopped during this trial\n")
        if set(t.params) == set(space):
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
    if interrupted:
        study.set_user_attr("interrupted", sorted(interrupted))
    return interrupted


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------- the end

def finish(study, study_dir: Path, metric: str, report: TuneReport) -> dict:
    """The study's result: counts, the best trial and ``best.yaml``, the leaderboard's metrics, the figures."""
    import optuna

    from nnml.sweep.summary import summarize

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    counts = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,)))
              for s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                        optuna.trial.TrialState.FAIL)}
    metrics = [metric, "test/" + metric.split("/", 1)[1]]
    summary = summarize(study_dir, metrics=metrics)
    result = {"study_dir": str(study_dir), "best_trial": None, "best_value": None, "metric": metric,
              "metrics": metrics, "summary": summary, **counts}
    if complete:
        best = _best(study, complete, study_dir, metric)
        runs = trial_runs(study_dir, best.number)
        path = write_best(study_dir, runs[0], best.number, metric, best.value, seeds=len(runs))
        result.update(best_trial=best.number, best_value=best.value, best_config=str(path),
                      best_params={k: _short(v) for k, v in best.params.items()})
    result["figures"] = _figures(study, study_dir, report)
    return result


def _best(study, complete: list, study_dir: Path, metric: str):
    """Optuna's best value; among trials that tie on it (a small val set), the lowest val/loss, as the
    leaderboard ranks them."""
    import json

    ties = [t for t in complete if t.value == study.best_value]

    def val_loss(t):  # the mean over the trial's seeds
        values = []
        for run_dir in trial_runs(study_dir, t.number):
            try:
                v = json.loads((run_dir / "metrics.json").read_text()).get("val/loss")
            except (OSError, ValueError):
                return math.inf
            if not isinstance(v, (int, float)):
                return math.inf
            values.append(v)
        return sum(values) / len(values) if values else math.inf

    return min(ties, key=lambda t: (val_loss(t) if metric != "val/loss" else 0, t.number))


def _figures(study, study_dir: Path, report: TuneReport) -> list[str]:
    """Optuna's optimization history and parameter importances as PNGs; importance needs >= 2 complete trials
    that differ, and is skipped with a note otherwise."""
    import matplotlib
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # "no complete trials": the note below says it once
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out = []
    for name, plot in (("history", ovm.plot_optimization_history), ("importance", ovm.plot_param_importances)):
        path = study_dir / f"{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = plot(study)
                fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
                fig.set_size_inches(8, 5)
                fig.tight_layout()
                fig.savefig(path, dpi=100)
                plt.close(fig)
            out.append(str(path))
        except Exception as e:  # too few or identical trials: the study is still fine
            report.line(f"no {name} figure: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}")
    return out
