"""Every shipped combination is honest: each (dataset, task, model) of the shipped options, the matrix generated from
the config folder, either passes the checks before a run and then trains a step, or is refused by them in one line
that names what fits (the tasks for the data, the datasets for the task, or the models for the task and the data)
and, where it suggests a change, the suggested change passes the checks and trains too. Datasets that need a
download or files of the user's (nnml.config.catalog.needs_files) are checked like the others but not trained here.

The checks are asked for the whole matrix (a few thousand triples, seconds: the checks build no data). Training
goes through the real run (``nnml.run.train.train``, composed config, tiny data, stopped after its first step):
one combination per task here, every accepted combination and every suggestion in the exhaustive test (139 runs,
5-9 minutes on 2 cores: ``pytest -m exhaustive tests/cli/test_combinations.py``; not in the default run).
"""

from __future__ import annotations

import copy
import functools
import tempfile
import warnings
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nnml.cli.checks.fit import Misfit, check_fit
from nnml.config.catalog import needs_files, option_files, options
from nnml.config.targets import Trust
from nnml.errors import NnmlError

QUIET = ["trainer.max_epochs=1", "trainer.device=cpu", "trainer.num_threads=1", "logger=none",
         "trainer.log_every_n_steps=1", "trainer.checkpoint_every_s=1000000"]
# Refusals that are a missing value of the user's, not a misfit: the message says what to give
NEEDS_A_VALUE = ("task.teacher=null is not valid", "model.encoder is not set")


@functools.lru_cache(maxsize=None)
def _loaded(group: str, option: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(option_files(group)[option]), resolve=False)


def node(group: str, option: str) -> dict:
    return copy.deepcopy(_loaded(group, option))


def matrix():
    datasets = options("dataset")
    return [(d, t, m) for d in datasets for t in options("task") for m in options("model")]


def verdict(d: str, t: str, m: str, extra=()):
    """None when the checks pass ``dataset=d task=t model=m`` (plus ``extra`` task./dataset. overrides), else the
    error they raise."""
    cfg = {"dataset": node("dataset", d), "task": node("task", t), "model": node("model", m)}
    for override in extra:
        key, _, value = override.partition("=")
        group, _, name = key.partition(".")
        cfg[group][name] = _value(value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_fit(cfg, {"dataset": d, "task": t, "model": m}, Trust(), {"dataset", "task", "model"})
    except NnmlError as e:
        return e
    return None


def _value(text: str):
    import yaml

    return yaml.safe_load(text)


def apply(triple, suggestion: list[str]):
    """(dataset, task, model, task./dataset. overrides) after following ``suggestion``."""
    d, t, m = triple
    extra = []
    for override in suggestion:
        key, _, value = override.partition("=")
        if key == "dataset":
            d = value
        elif key == "task":
            t = value
        elif key == "model":
            m = value
        else:
            extra.append(override)
    return d, t, m, tuple(extra)


@pytest.fixture(scope="module")
def outcomes():
    """Every triple of the matrix -> None (passes) or the refusal."""
    return {triple: verdict(*triple) for triple in matrix()}


def test_the_matrix_is_generated_from_the_configs(outcomes):
    datasets = {d for d, _, _ in outcomes}
    assert {"digits", "shapes", "langid", "numbers", "grid", "synthetic_interactions"} <= datasets
    assert {"mnist", "ag_news", "csv", "image_folder_masks"} <= datasets  # downloads and the user's files: checked
    assert not {d for d, _, _, _ in _to_train(outcomes)} & {"mnist", "ag_news", "csv", "image_folder_masks"}
    assert len(outcomes) == len(datasets) * len(options("task")) * len(options("model"))
    passing = [k for k, v in outcomes.items() if v is None]
    assert len(passing) > 60
    # every task but distill (which needs a teacher run) trains something, as it is or as suggested
    assert {t for _, t, _, _ in _to_train(outcomes)} == set(options("task")) - {"distill"}


def test_every_refusal_is_one_line_naming_what_fits(outcomes):
    for (d, t, m), error in outcomes.items():
        if error is None:
            continue
        text = str(error)
        assert "\n" not in text and "Traceback" not in text, (d, t, m, text)
        if isinstance(error, Misfit):
            names = {"task": ("; the tasks for dataset=", "; datasets for task="), "model": ("models for task=",),
                     "data": ("needs",)}[error.about]
            assert any(s in text for s in names), (d, t, m, text)
            assert error.suggestion, (d, t, m, text)  # every shipped misfit has a way out
            assert " ".join(error.suggestion) in text, (d, t, m, text)
        else:
            assert text.startswith(NEEDS_A_VALUE), (d, t, m, text)


def test_every_suggestion_passes_the_checks(outcomes):
    for triple, error in outcomes.items():
        if isinstance(error, Misfit):
            followed = apply(triple, error.suggestion)
            assert verdict(*followed) is None, (triple, error.suggestion, str(verdict(*followed)))


def _train_one_step(d: str, t: str, m: str, extra=()) -> None:
    """The real run on tiny data, stopped after its first training step (then its val and test evaluation)."""
    from nnml.engine.callbacks import Callback, StopTraining
    from nnml.run.train import RunContext, train
    from tests.conftest import compose, tiny_data

    class OneStep(Callback):
        def on_train_log(self, state, scalars):
            raise StopTraining("one step")

    cfg = compose([*QUIET, f"dataset={d}", f"task={t}", f"model={m}", *tiny_data(d), *extra])
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = train(cfg, RunContext(run_dir=Path(tmp), trust=Trust.own(cfg),
                                        choices={"dataset": d, "task": t, "model": m}), callbacks=[OneStep()],
                        quiet=True)
    assert metrics["epochs"] in (0, 1) and any(k.startswith("test/") for k in metrics), (d, t, m)


def _to_train(outcomes) -> list[tuple]:
    """Every passing triple and every suggestion followed, once each (of the datasets that build offline)."""
    runs = {(d, t, m, ()) for (d, t, m), e in outcomes.items() if e is None}
    runs |= {apply(k, e.suggestion) for k, e in outcomes.items() if isinstance(e, Misfit)}
    return sorted(r for r in runs if not needs_files("dataset", r[0]))


def test_one_passing_combination_per_task_trains(outcomes):
    first = {}
    for run in _to_train(outcomes):
        first.setdefault(run[1], run)
    for d, t, m, extra in first.values():
        _train_one_step(d, t, m, extra)


@pytest.mark.slow
@pytest.mark.exhaustive
def test_every_passing_combination_and_suggestion_trains(outcomes):
    failed = []
    for d, t, m, extra in _to_train(outcomes):
        try:
            _train_one_step(d, t, m, extra)
        except Exception as e:  # collect them all: one run of this test lists every combination that broke
            failed.append(f"dataset={d} task={t} model={m} {' '.join(extra)}: {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}")
    assert not failed, "\n".join(failed)
