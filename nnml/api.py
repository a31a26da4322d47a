"""The Python API, for notebooks: the same runs as the command line, as objects.

    import nnml
    run = nnml.train("dataset=iris", trainer__max_epochs=20)   # nnml train dataset=iris trainer.max_epochs=20
    run.metrics["test/acc"], run.history, run.predict(rows=df)
    nnml.runs("outputs")                                          # every run under a folder, as a DataFrame
    nnml.compare(run_a, run_b)                                    # ranked, with the keys that differ

``nnml.train`` checks its overrides as ``nnml train`` does (:func:`nnml.cli.checks.precheck.precheck_train`:
composition, values, every component's keys, the one-batch probe of your own code), claims the run folder the
same way (:mod:`nnml.cli.claim`), writes ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` as Hydra
would (so ``nnml eval``, ``compare`` and ``resume=`` read it like any run) and ``train.log``, takes the folder's
lock and trains (:func:`nnml.run.job.train_in_folder`). It prints nothing but the run's own console lines (the
header, epochs, the result table), which ``quiet=True`` silences, and never exits the process: every refusal and
failure is raised as :class:`nnml.errors.NnmlError` with the command line's one-line message (a run that failed
after its folder was claimed also writes it to ``error.txt``, as the command line does). Sweeps (``-m``) stay on
the command line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from nnml.errors import NnmlError

SWEEP_HINT = ("nnml.train runs one run; sweeps (-m) are not part of the Python API: run nnml train -m ... in a "
              "shell, or call nnml.train once per value in a loop")


class RunFailed(NnmlError):
    """A run that started in its folder and failed there: ``run_dir`` holds what it wrote (error.txt)."""

    def __init__(self, message: str, run_dir: Path, exit_code: int | None = None):
        super().__init__(message, exit_code)
        self.run_dir = run_dir


# ---------------------------------------------------------------------------------------------- train

def overrides_of(args, keys: dict) -> list[str]:
    """``key=value`` words from positional overrides and keyword arguments (``trainer__max_epochs=3`` or
    ``trainer={"max_epochs": 3}`` for ``trainer.max_epochs=3``; ``dataset="iris"`` chooses an option)."""
    from nnml.config.overrides import override_value

    words = [str(a) for a in args]

    def add(key: str, value) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                add(f"{key}.{k}", v)
        else:
            words.append(f"{key}={override_value(value)}")

    for key, value in keys.items():
        add(key.replace("__", "."), value)
    return words


def train(*overrides: str, config_dir: str | Path | None = None, config_name: str | None = None,
          quiet: bool = False, console=None, callbacks=(), **keys) -> Run:
    """Train one run, as ``nnml train [-cd config_dir] [-cn config_name] OVERRIDES`` does, and return it.

    ``overrides``: ``"dataset=iris"``, ``"model.hidden=[32,32]"``, ``"resume=outputs/train/runs/<run>"``;
    ``keys``: the same as keyword arguments (``dataset="iris"``, ``trainer__max_epochs=5``). ``console``: a
    rich Console for the run's lines (default: standard output); ``quiet``: none at all. ``callbacks``: extra
    :class:`nnml.engine.callbacks.Callback` objects that observe the loop. A refusal raises
    :class:`~nnml.errors.NnmlError` before any folder exists; a failure of the run raises :class:`RunFailed`."""
    from nnml.cli.checks.precheck import MULTIRUN_FLAGS, NothingToDo, precheck_train, split_hydra_flags

    words = overrides_of(overrides, keys)
    flags, rest = split_hydra_flags(words)
    if any(f.split("=", 1)[0] in MULTIRUN_FLAGS for f in flags):
        raise NnmlError(SWEEP_HINT)
    if flags:
        raise NnmlError(f"{flags[0]} is a flag of the nnml train command; nnml.train takes overrides, and "
                        f"config_dir=DIR / config_name=NAME for -cd / -cn")
    head = [*(["-cd", str(config_dir)] if config_dir else []), *(["-cn", str(config_name)] if config_name else [])]
    try:
        plan = precheck_train([*head, *rest])
    except NothingToDo as e:  # resume= of a finished run: it is returned as it is
        resume = next(w.split("=", 1)[1] for w in rest if w.startswith("resume="))
        from nnml.config.resume import run_folder_of

        return load(run_folder_of(resume.strip("'\"")).path, notes=[str(e)])
    if plan.kind == "sweep":
        raise NnmlError(SWEEP_HINT)
    if plan.kind != "run" and plan.kind != "resume":
        raise NnmlError(f"nnml.train cannot do what these arguments ask ({' '.join(words)}); give overrides only")
    return _run(plan, rest, config_dir, config_name or "train", quiet=quiet, console=console,
                callbacks=list(callbacks))


def _run(plan, rest: list[str], config_dir, config_name: str, *, quiet, console, callbacks) -> Run:
    from nnml.cli.claim import claim, hydra_str
    from nnml.config.compose import Composer
    from nnml.config.runfolder import RunFolder

    composer = Composer(config_name, config_dir)
    _, path_overrides = composer.hydra_args()
    extra = [e for e in plan.extra if e not in path_overrides]  # the composer adds its own search path
    if plan.kind == "resume":
        saved = [o for o in plan.folder_overrides if not o.startswith("hydra.")]  # the run's own group choices
        task_overrides = [*saved, *rest, *extra]
        claimed, run_dir = None, Path(plan.folder)
    else:
        task_overrides = [*rest, *extra]
        claimed = claim(plan)
        run_dir = claimed.path
    run = RunFolder(run_dir)
    try:
        cfg, choices = _compose(composer, task_overrides, run_dir, hydra_str, write=plan.kind == "run")
        metrics = _train(cfg, choices, task_overrides, run, quiet=quiet, console=console, callbacks=callbacks)
    except BaseException:
        if claimed is not None and claimed.created:
            claimed.remove_if_unused()  # a refusal found by the run itself, before it trained: no folder left
        raise
    finally:
        if claimed is not None:
            claimed.release()
    from nnml.config.targets import Trust

    # What this call named (its own composed config) is what its returned run may import.
    return Run(run_dir, allow=Trust.own(cfg).prefixes, notes=plan.notes, metrics=metrics)


def _compose(composer, task_overrides: list[str], run_dir: Path, hydra_str, write: bool):
    """(config without its hydra node, group choices) as Hydra composes them for this run; a new run's
    ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` written as Hydra writes them."""
    from omegaconf import OmegaConf, open_dict, read_write

    from nnml.cli.checks.precheck import compose_or_explain
    from nnml.files import atomic_write_text

    with composer:
        full = compose_or_explain(composer, [*task_overrides, f"hydra.run.dir={hydra_str(run_dir)}"],
                                  return_hydra_config=True)
    with read_write(full.hydra.runtime), open_dict(full.hydra.runtime):
        full.hydra.runtime.output_dir = str(Path(run_dir).absolute())
    choices = {str(k): v for k, v in full.hydra.runtime.choices.items() if not str(k).startswith("hydra/")}
    hydra_cfg = OmegaConf.masked_copy(full, "hydra")
    overrides = list(full.hydra.overrides.task)
    with read_write(full), open_dict(full):
        del full["hydra"]
    if write:
        h = Path(run_dir) / ".hydra"
        h.mkdir(parents=True, exist_ok=True)
        atomic_write_text(h / "config.yaml", OmegaConf.to_yaml(full))
        atomic_write_text(h / "hydra.yaml", OmegaConf.to_yaml(hydra_cfg))
        atomic_write_text(h / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(overrides)))
    return full, choices


def _train(cfg, choices: dict, task_overrides: list[str], run, *, quiet, console, callbacks) -> dict:
    from nnml.config.notation import typed_values
    from nnml.engine.loop import Interrupted
    from nnml.run.job import as_error, train_in_folder
    from nnml.run.train import RunContext

    ctx = RunContext(run_dir=run.path, trust=None, choices=choices, overrides=list(task_overrides),
                     typed=typed_values(task_overrides))
    with _train_log(run.path):
        try:
            return train_in_folder(cfg, ctx, run, console=console, quiet=quiet, callbacks=callbacks)
        except Interrupted as e:  # Ctrl-C (the kernel's interrupt) after a checkpoint: resumable
            how = "Ctrl-C" if e.args[0] == "SIGINT" else e.args[0]
            raise RunFailed(f"stopped by {how}; saved {e.checkpoint}; resume with nnml.train(resume="
                            f"{str(run.path)!r})", run.path, exit_code=e.exit_code) from None
        except KeyboardInterrupt:
            run.write_error("stopped by Ctrl-C before it finished")
            raise
        except Exception as e:
            err = as_error(e)
            run.write_error(str(err))
            raise RunFailed(str(err), run.path, exit_code=err.exit_code) from e


class _train_log:
    """``train.log`` in the run folder, as Hydra's job logging writes it for the command line: nnml's loggers at
    INFO into the file while the run goes, then as they were."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "train.log"

    def __enter__(self):
        self.logger = logging.getLogger("nnml")
        self.level = self.logger.level
        self.handler = logging.FileHandler(self.path)
        self.handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)
        self.handler.close()


# ---------------------------------------------------------------------------------------------- a finished run

class Run:
    """A run folder, read back: ``dir``, ``metrics`` (metrics.json), ``history`` (one row per epoch), ``config``
    (read under the trust rule), ``model`` (restored, eval mode) and ``predict(...)``. ``allow``: module prefixes
    of your own code that its config may name (as ``--allow`` on the command line; a run this session trained
    allows what its own config named)."""

    def __init__(self, run_dir, allow=(), notes=(), metrics: dict | None = None):
        from nnml.config.runfolder import RunFolder

        self.folder = RunFolder(run_dir).require()
        self.dir = self.folder.path.absolute()
        self.allow = list(dict.fromkeys(str(a) for a in allow))
        self.notes = list(notes)  # what the command line would have printed as notes
        self._metrics = metrics
        self._restored: dict = {}

    def __repr__(self) -> str:
        m = self.metrics
        monitor = m.get("monitor")
        test = f"test/{str(monitor).split('/', 1)[-1]}" if monitor else None
        shown = f", {test}={m[test]:.4g}" if test in m and isinstance(m[test], (int, float)) else ""
        state = "" if m else " (no metrics.json: unfinished or failed)"
        return f"Run('{self.dir}'{shown}){state}"

    @property
    def metrics(self) -> dict:
        """metrics.json (final train/*, val/*, test/*, epochs, timings, ...); {} while it has none."""
        if self._metrics is None:
            return self.folder.metrics() or {}
        return self._metrics

    @property
    def history(self):
        """One row per epoch (a pandas DataFrame): ``epoch``, ``step`` and every epoch metric (train/*, val/*,
        lr), from metrics.csv (logger=csv or all) or else the TensorBoard event files."""
        import pandas as pd

        from nnml.sweep.compare import epoch_history

        csv_file = self.dir / "metrics.csv"
        if csv_file.is_file() and csv_file.stat().st_size:
            return pd.read_csv(csv_file)
        return pd.DataFrame(epoch_history(self.dir))

    @property
    def config(self):
        """The run's config as saved, read as data (safe YAML, only its targets the trust rule allows)."""
        cfg, _ = self.folder.load_config(allow=self.allow)
        return cfg

    def restore(self, checkpoint: str = "best"):
        """The run rebuilt from its folder (:class:`nnml.run.restore.RestoredRun`: config, data, task)."""
        if checkpoint not in self._restored:
            from nnml.run.restore import restore_run

            self._restored[checkpoint] = restore_run(self.dir, checkpoint, allow=self.allow)
        return self._restored[checkpoint]

    @property
    def model(self):
        """The run's model with the best checkpoint's weights, in eval mode."""
        r = self.restore()
        return r.task.modules[r.task.primary]

    def predict(self, *inputs, file=None, rows=None, top: int | None = None, out=None, beam: int | None = None,
                checkpoint: str = "best") -> list[dict]:
        """What ``nnml predict`` prints, as a list of dicts: one per input (texts, image files, typed rows
        ``"5.1,3.5,1.4,0.2"``), per row of ``file`` (a table for classification and regression runs) or per row of
        ``rows`` (a pandas DataFrame, a list of dicts, or a 2-D array of numbers in the order of the model's
        columns). ``out``: also write them to this CSV file (classification, regression) or mask (segmentation)."""
        from nnml.run.predict import predict_rows

        restored = self.restore(checkpoint)
        options = {"top": top, "out": out, "beam": beam}
        if rows is not None:
            options["records"], options["places"] = _records(rows, restored.task)
        return predict_rows(restored, inputs, file, options)


def _records(rows, task) -> tuple[list[dict], list[str]]:
    """(rows as mappings, a name for each) of a DataFrame, a list of mappings or a 2-D array."""
    from collections.abc import Mapping

    if hasattr(rows, "to_dict") and hasattr(rows, "index"):  # a pandas DataFrame
        return rows.to_dict("records"), [f"row {i}" for i in rows.index]
    rows = list(rows)
    if all(isinstance(r, Mapping) for r in rows):
        return [dict(r) for r in rows], [f"row {i + 1}" for i in range(len(rows))]
    meta = getattr(task.data, "meta", {}) or {}
    names = ([s["name"] for s in meta["tabular"]["columns"]] if "tabular" in meta else meta.get("feature_names"))
    out = []
    for i, r in enumerate(rows):
        values = list(r)
        keys = names or [str(j) for j in range(len(values))]
        if len(values) != len(keys):
            raise NnmlError(f"rows[{i}] has {len(values)} values, but the model reads {len(keys)} columns"
                            + (f" ({', '.join(keys[:6])}{', ...' if len(keys) > 6 else ''})" if names else ""))
        out.append(dict(zip(keys, values)))
    return out, [f"row {i + 1}" for i in range(len(out))]


def load(run_dir, allow=(), notes=()) -> Run:
    """A finished (or running) run's folder as a :class:`Run`. ``allow``: prefixes of your own code its config
    names (``allow=["my_models."]``), as ``--allow`` on the command line."""
    return Run(run_dir, allow=allow, notes=notes)


# ---------------------------------------------------------------------------------------------- many runs

def runs(path="outputs"):
    """Every run under ``path`` (run, sweep or study folders), one row each: the run, the group choices and
    config keys that differ between the runs, the final metrics (every ``split/name`` of metrics.json), epochs,
    status (ok, pruned, failed, incomplete) and folder."""
    import pandas as pd

    from nnml.sweep import runs as R

    found = R.load_runs([Path(path)])
    hparams = R.differing_keys(found)
    groups = {g for r in found for g in r.choices}
    metric_names = sorted({k for r in found for k, v in r.metrics.items()
                           if "/" in k and isinstance(v, (int, float)) and not isinstance(v, bool)})
    table = []
    for r in found:
        row = {"run": r.name, **{k: R.value_of(r, k, groups) for k in hparams}}
        row.update({m: r.metrics.get(m) for m in metric_names})
        row.update({"epochs": r.metrics.get("epochs"), "status": r.status, "error": r.error or None,
                    "path": str(r.path)})
        table.append(row)
    return pd.DataFrame(table, columns=["run", *hparams, *metric_names, "epochs", "status", "error", "path"])


def compare(*paths_or_runs, metric=None, per_run: bool = False):
    """``nnml compare`` as a DataFrame: the runs under the given folders (or :class:`Run` objects), best first by
    ``metric`` (default: the runs' monitored metric, with its test counterpart as a second column), with the
    hyperparameters that differ, epochs, status and run. Unfinished and failed runs come last. Runs that differ
    only in ``seed`` are one configuration: when some configuration has several, one row per configuration with
    ``n`` and per metric ``<m>_mean``, ``_std``, ``_ci_low``, ``_ci_high`` (95% t interval), ``_vs_best`` and
    ``_p_holm`` (``per_run=True``: one row per run instead)."""
    import pandas as pd

    from nnml.sweep import compare as C

    paths = [p.dir if isinstance(p, Run) else Path(p) for p in paths_or_runs] or [Path("outputs")]
    metrics = [metric] if isinstance(metric, str) else list(metric or [])
    result = C.compare(paths, metrics=metrics, per_run=per_run)
    return pd.DataFrame(result["rows"])


def verdict(a, b, metric=None, resamples: int = 9999) -> dict:
    """``nnml compare A B``: ``a`` and ``b`` are two runs (folders or :class:`Run` objects) or two folders that
    each hold one configuration's seeds. ``{a, b, n_a, n_b, kind, comparisons}``, one comparison per metric with
    ``diff``, ``ci_low``, ``ci_high``, ``p_value``, ``test`` and the ``verdict`` sentence: a paired test on the
    same test samples between two runs (McNemar exact, or a paired bootstrap of ``resamples``), Welch's t test
    over seeds between configurations."""
    from nnml.errors import NnmlError
    from nnml.sweep import runs as R
    from nnml.sweep import verdict as V

    paths = [p.dir if isinstance(p, Run) else Path(p) for p in (a, b)]
    sides = V.sides(paths)
    if sides is None:
        raise NnmlError("nnml.verdict needs two runs, or two folders of one configuration's seeds each")
    metrics = [metric] if isinstance(metric, str) else list(metric or [])
    metrics = metrics or R.default_metrics(sides[0].runs + sides[1].runs)
    return V.verdicts(*sides, metrics, n_resamples=resamples)
