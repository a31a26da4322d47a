"""Whether a run's dataset, task and model fit together, known before anything is built or written.

Three sources, all read without building the data:

- the ``# tasks:`` line of every shipped dataset and model option (``configs/dataset/*.yaml``,
  ``configs/model/*.yaml``): the tasks each is made for. A model made for a task that specializes another (a text
  classifier: ``task=text_classification`` is supervised learning) fits the general one too;
- the facts of the dataset (:mod:`nnml.cli.checks.facts`): the kind of data, its shape, whether its inputs are token
  ids and what else a model is told (``vocab_size``, ``num_users``, ...);
- the model itself, built on the CPU with those facts, so its own checks run (a CNN refuses tabular data). A model
  that fails on this dataset but builds on another one does not fit the data; one that fails on every dataset has a
  bad value of its own (``model=pretrained`` without ``model.encoder``), and its message is passed on as it is.

A misfit is one line (:class:`Misfit`, an :class:`~nnml.errors.NnmlError`) that names what fits (the tasks for the
data, or the models for the task and the data) and one concrete change that passes these checks itself
(``Misfit.suggestion``, also in the message after "e.g."); ``tests/cli/test_combinations.py`` follows every
suggestion and trains it. Options of the user's own (``-cd``) without a ``# tasks:`` line are trusted.
"""

from __future__ import annotations

import contextlib
import functools
import inspect

from nnml.errors import NnmlError


class Misfit(NnmlError):
    """A dataset, task and model that do not fit together; ``suggestion`` is a list of overrides that would;
    ``about``: what does not fit (``task``: the dataset and the task, ``model``: the model and the task or the data,
    ``data``: a task's own condition on the data, such as a Bernoulli VAE's values in [0, 1])."""

    def __init__(self, message: str, suggestion: list[str] | None = None, inline: bool = False, about: str = ""):
        self.about = about
        self.suggestion = list(suggestion or [])
        if self.suggestion and not inline:
            message += f": e.g. {' '.join(self.suggestion)}"
        super().__init__(message)


# ------------------------------------------------------------------------------------------------ the catalogue
@functools.lru_cache(maxsize=None)
def _node(group: str, option: str) -> dict | None:
    from omegaconf import OmegaConf

    from nnml.config.catalog import option_files

    path = option_files(group).get(option)
    if path is None:
        return None
    node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return node if isinstance(node, dict) else None


@functools.lru_cache(maxsize=None)
def _tags(group: str, option: str) -> tuple[str, ...] | None:
    from nnml.config.catalog import option_tasks

    found = option_tasks(group, option)
    return None if found is None else tuple(found)


def tags(group: str, option: str) -> list[str] | None:
    found = _tags(group, option)
    return None if found is None else list(found)


@functools.lru_cache(maxsize=None)
def _shipped(group: str) -> tuple[str, ...]:
    from nnml.config import config_dir
    from nnml.config.catalog import options

    return tuple(options(group, config_dir()))


def shipped(group: str) -> list[str]:
    """The shipped options of ``group`` (read once: the catalogue is asked many times for one refusal)."""
    return list(_shipped(group))


@functools.lru_cache(maxsize=None)
def specializes(made_for: str, task: str) -> bool:
    """True when ``made_for`` is ``task`` or a kind of it (its task class subclasses ``task``'s)."""
    if made_for == task:
        return True
    from nnml.config.targets import Trust, import_object

    try:  # shipped task configs: their targets are registered parts
        classes = [import_object(str(_node("task", t)["_target_"]), Trust()) for t in (made_for, task)]
    except Exception:
        return False
    return issubclass(classes[0], classes[1])


def made_for(option_tags: list[str] | None, task: str) -> bool:
    return option_tags is None or any(specializes(t, task) for t in option_tags)


# ------------------------------------------------------------------------------------------------ the model
def _params(target: str, trust):
    if not trust.allows(target):
        return None  # the trust check names it
    return _signature(target)


@functools.lru_cache(maxsize=None)
def _signature(target: str):
    from nnml.config.targets import Trust, import_object

    try:
        return inspect.signature(import_object(target, Trust([target.rsplit(".", 1)[0]]))).parameters
    except Exception:
        return None


def model_problem(mnode: dict, facts: dict, trust) -> tuple[str, object] | None:
    """Why the model config ``mnode`` cannot be built on data with ``facts`` (facts.dataset_facts), or None:
    ``("missing", [fact, ...])`` (constructor arguments the data does not give), ``("tokens", None)`` (the data are
    token ids and the model takes no vocabulary), ``("floats", None)`` (the reverse) or ``("model", message)``
    (its own check)."""
    from nnml.cli.checks.facts import model_facts

    target = mnode.get("_target_") if isinstance(mnode, dict) else None
    if not target:  # a pair of networks (a GAN's generator and discriminator): each must fit
        for sub in (mnode.values() if isinstance(mnode, dict) else ()):
            problem = model_problem(sub, facts, trust) if isinstance(sub, dict) and "_target_" in sub else None
            if problem:
                return problem
        return None
    params = _params(str(target), trust)
    if params is None:
        return None  # the import's own check reports it
    given = model_facts(facts)
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if not var_kw and any(not str(k).startswith("_") and k not in params for k in mnode):
        return None  # a key the model does not take: the signature check names it, with a close match
    missing = [n for n, p in params.items() if p.default is p.empty and n not in mnode and n not in given
               and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if missing:
        return "missing", missing
    reads_tokens = any("vocab_size" in n for n in params)
    if facts.get("tokens") and not reads_tokens:
        return "tokens", None
    kwargs = {k: v for k, v in given.items() if (var_kw or k in params) and k not in mnode}
    key = repr((sorted(mnode.items(), key=str), sorted(kwargs.items(), key=str)))
    if key not in _BUILT:
        _BUILT[key] = _build(mnode, kwargs, trust)
    return _BUILT[key]


_BUILT: dict = {}  # a model config and its facts -> what building it said (the catalogue is asked many times)


def _build(mnode, kwargs, trust):
    from omegaconf import OmegaConf

    from nnml.config.targets import instantiate

    try:
        with _quiet_torch():
            instantiate(OmegaConf.create(mnode), key="model", trust=trust, **kwargs)
    except NnmlError as e:
        cause = e.__cause__
        return "model", str(cause) if isinstance(cause, NnmlError) else str(e)
    except Exception as e:  # the model's own error on these shapes
        return "model", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None


@contextlib.contextmanager
def _quiet_torch():
    """torch warns about layer options (a transformer's nested tensors) while building: not the user's business."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@functools.lru_cache(maxsize=None)
def _fact_sources(fact: str) -> list[str]:
    """Shipped dataset options whose data give ``fact``."""
    from nnml.cli.checks.facts import DATASETS

    out = []
    for option in shipped("dataset"):
        node = _node("dataset", option) or {}
        facts = DATASETS.get(str(node.get("_target_", "")))
        if facts and fact in facts.get("meta", {}):
            out.append(option)
    return out


# ------------------------------------------------------------------------------------------------ the check
_MEMO: dict = {}  # content of the configs asked about -> the answer (a refusal asks the catalogue many questions)


def _key(*parts) -> str:
    import json

    return json.dumps(parts, sort_keys=True, default=str)


def _memo(key: str, fn):
    """``fn()``, computed once per ``key`` (an NnmlError it raises is raised again each time)."""
    if key not in _MEMO:
        try:
            _MEMO[key] = (True, fn())
        except NnmlError as e:
            _MEMO[key] = (False, e)
    ok, value = _MEMO[key]
    if not ok:
        raise value
    return value


class Fit:
    """The dataset, task and model of one run: ``d``/``t``/``m`` are the options as chosen (None: not a shipped
    option, or typed as keys), ``dnode``/``tnode``/``mnode`` the composed config nodes (the user's keys in them)."""

    def __init__(self, d, dnode, t, tnode, m, mnode, trust):
        from nnml.cli.checks.facts import dataset_facts

        self.d, self.dnode, self.t, self.tnode, self.m, self.mnode, self.trust = d, dnode, t, tnode, m, mnode, trust
        self.facts = dataset_facts(dnode)

    # the pieces -------------------------------------------------------------------------------------------
    def task_problem(self, t: str) -> str | None:
        dtags = tags("dataset", self.d) if self.d else None
        if dtags is None or t in dtags:
            return None
        kind = f" (it gives {self.facts['task']} data)" if self.facts else ""
        return f"dataset={self.d} is made for task={' or task='.join(dtags)}{kind}, not task={t}"

    def model_misfit(self, t: str, m: str | None, mnode) -> str | None:
        """Why model ``m`` (config ``mnode``) does not fit task ``t`` on this dataset, or None."""
        return _memo(_key("model", t, m, mnode, self.d, self.dnode, self.trust.prefixes),
                     lambda: self._model_misfit(t, m, mnode))

    def _model_misfit(self, t: str, m: str | None, mnode) -> str | None:
        mtags = tags("model", m) if m else None
        if m and not made_for(mtags, t):
            return f"model={m} is made for task={' or task='.join(mtags)}, not task={t}"
        if self.facts is None or not isinstance(mnode, dict):
            return None
        problem = model_problem(mnode, self.facts, self.trust)
        if problem is None:
            return None
        kind, detail = problem
        name = f"model={m}" if m else "the model"
        if kind == "missing":
            sources = {f: _fact_sources(f) for f in detail}
            given = ", ".join(f"{f} (dataset={' or '.join(s)})" if s else f for f, s in sources.items())
            return f"{name} needs {given}, which dataset={self.d or 'this dataset'} does not give"
        if kind == "tokens":
            return (f"{name} takes float features, but dataset={self.d} gives token ids (integers), which only a "
                    f"model with a vocabulary (vocab_size) reads")
        if not self._builds_elsewhere(mnode):
            raise NnmlError(detail)  # a bad value of the model's own, whatever the data: its message as it is
        return f"{name} does not fit dataset={self.d} ({_without_advice(detail)})"

    def _builds_elsewhere(self, mnode) -> bool:
        """Whether the model builds on some shipped dataset's facts (then it is this data it does not fit)."""
        from nnml.cli.checks.facts import dataset_facts

        def search():
            for option in shipped("dataset"):
                facts = dataset_facts(_node("dataset", option))
                if facts and model_problem(mnode, facts, self.trust) is None:
                    return True
            return False

        return _memo(_key("elsewhere", mnode, self.trust.prefixes), search)

    def task_misfit(self, t: str, tnode, dnode=None) -> tuple[str, list[str]] | None:
        """The task's own checks of its keys (raised) and of the data's facts (a Bernoulli VAE needs values in
        [0, 1]): (message, overrides that would fix it) or None. ``dnode``: another dataset config to check."""
        from hydra.utils import instantiate

        if not isinstance(tnode, dict) or "_target_" not in tnode:
            return None
        self.trust.check(tnode)

        def build():
            try:
                return instantiate(tnode)
            except NnmlError:
                raise
            except Exception as e:
                if isinstance(e.__cause__, NnmlError):
                    raise e.__cause__ from None
                return None  # check_components names a bad key

        task = _memo(_key("task", tnode), build)
        if task is None:
            return None
        from nnml.cli.checks.facts import dataset_facts

        dnode = self.dnode if dnode is None else dnode
        facts = dataset_facts(dnode)
        check = getattr(task, "check_facts", None)
        if check is None or facts is None:
            return None
        return check(facts, dnode or {})

    # what fits ----------------------------------------------------------------------------------------------
    def fitting_models(self, t: str) -> list[str]:
        return _memo(_key("fitting", t, self.d, self.dnode, self.trust.prefixes), lambda: [
            m for m in shipped("model") if self._quiet(lambda m=m: self.model_misfit(t, m, _node("model", m)))])

    def fitting_tasks(self) -> list[str]:
        dtags = tags("dataset", self.d) if self.d else None
        return [t for t in (dtags or shipped("task")) if t in shipped("task")]

    @staticmethod
    def _quiet(fn) -> bool:
        try:
            return fn() is None
        except NnmlError:
            return False

    def _state(self) -> str:
        return _key(self.d, self.dnode, self.t, self.tnode, self.m, self.mnode, self.trust.prefixes)

    def passes(self, t: str, m: str | None, changes: list[str] = ()) -> bool:
        """Whether task ``t`` with shipped model ``m`` (None: the run's own model) and the ``task.``/``dataset.``
        overrides ``changes`` passes every check."""
        return _memo(_key("passes", self._state(), t, m, list(changes)), lambda: self._passes(t, m, changes))

    def _passes(self, t: str, m: str | None, changes) -> bool:
        mnode = _node("model", m) if m else self.mnode
        tnode = dict(self.tnode if t == self.t else _node("task", t) or {})
        dnode = dict(self.dnode or {})
        for override in changes:
            key, _, value = override.partition("=")
            group, _, name = key.partition(".")
            target = {"task": tnode, "dataset": dnode}.get(group)
            if target is None or (group == "dataset" and name not in target):
                return False  # only keys the option has (a + key would be refused)
            target[name] = _parse(value)
        return (self.task_problem(t) is None and self._quiet(lambda: self.model_misfit(t, m or self.m, mnode))
                and self._quiet(lambda: self.task_misfit(t, tnode, dnode)))

    def task_fix(self, t: str, m: str | None) -> list[str] | None:
        """The overrides that make task ``t`` with model ``m`` pass ([] when it passes as it is), or None."""
        return _memo(_key("fix", self._state(), t, m), lambda: self._task_fix(t, m))

    def _task_fix(self, t: str, m: str | None) -> list[str] | None:
        if self.passes(t, m):
            return []
        if self.task_problem(t) is not None or not self._quiet(
                lambda: self.model_misfit(t, m or self.m, _node("model", m) if m else self.mnode)):
            return None
        try:
            problem = self.task_misfit(t, self.tnode if t == self.t else _node("task", t))
        except NnmlError:
            return None
        for override in (problem[1] if problem else []):
            if self.passes(t, m, [override]):
                return [override]
        return None

    def suggest_task(self) -> list[str]:
        return _memo(_key("suggest_task", self._state()), self._suggest_task)

    def _suggest_task(self) -> list[str]:
        for t in self.fitting_tasks():
            for m in ([self.m] if self.m else []) + self.fitting_models(t):
                fix = self.task_fix(t, m)
                if fix is not None:
                    return [f"task={t}", *([] if m == self.m else [f"model={m}"]), *fix]
        return []

    def suggest_model(self, t: str) -> tuple[list[str], list[str]]:
        """(models that fit task ``t`` and this dataset, the overrides of the first that passes every check)."""
        return _memo(_key("suggest_model", self._state(), t), lambda: self._suggest_model(t))

    def _suggest_model(self, t: str) -> tuple[list[str], list[str]]:
        models = self.fitting_models(t)
        for m in models:
            fix = self.task_fix(t, m)
            if fix is not None:
                return models, [f"model={m}", *fix]
        return models, []


def _parse(value: str):
    import yaml

    return yaml.safe_load(value)


def _without_advice(message: str) -> str:
    """A model's own message without its advice (the misfit names what fits, for this task and dataset)."""
    import re

    return re.split(r"[:;,]\s*(?:use|try|choose)\s", message, maxsplit=1)[0].rstrip(".")


@functools.lru_cache(maxsize=None)
def datasets_for(t: str) -> list[str]:
    """Shipped datasets made for task ``t`` that build offline (no download, no files of the user's)."""
    from nnml.config.catalog import needs_files

    return [d for d in shipped("dataset") if t in (tags("dataset", d) or []) and not needs_files("dataset", d)]


def suggest_dataset(fit: Fit, t: str) -> list[str]:
    """A dataset (with a model and a task fix when needed) that passes every check with task ``t``."""
    return _memo(_key("suggest_dataset", fit._state(), t), lambda: _suggest_dataset(fit, t))


def _suggest_dataset(fit: Fit, t: str) -> list[str]:
    for d in datasets_for(t):
        other = Fit(d, _node("dataset", d), fit.t, fit.tnode, fit.m, fit.mnode, fit.trust)
        for m in ([fit.m] if fit.m else []) + other.fitting_models(t):
            fix = other.task_fix(t, m)
            if fix is not None:
                return [f"dataset={d}", *([] if m == fit.m else [f"model={m}"]), *fix]
    return []


def suggest_task_for_model(fit: Fit) -> list[str]:
    """A task the run's model is made for that fits the data too (with a fix when needed), or []."""
    for t in tags("model", fit.m) or []:
        if t in fit.fitting_tasks():
            fix = fit.task_fix(t, fit.m)
            if fix is not None:
                return [f"task={t}", *fix]
    return []


def check_fit(cfg, choices: dict, trust, typed=()) -> None:
    """Raise :class:`Misfit` (or the task's or model's own :class:`NnmlError`) when the run's dataset, task and
    model do not fit together. ``typed``: the groups the user chose on the command line (the suggestion changes
    what they did not). Choices that are not shipped options (a user's ``-cd`` option) are trusted."""
    from omegaconf import OmegaConf

    def plain(key):
        node = cfg.get(key)
        if isinstance(node, dict):
            return node
        return OmegaConf.to_container(node, resolve=False) if OmegaConf.is_dict(node) else None

    def option(group):
        value = choices.get(group)
        return str(value) if value is not None and str(value) in shipped(group) else None

    d, t, m = option("dataset"), option("task") or "auto", option("model")
    if choices.get("task") is not None and option("task") is None:
        return  # a task of the user's own knows its data
    typed = set(typed)
    fit = Fit(d, plain("dataset"), t, plain("task"), m, plain("model"), trust)
    problem = fit.task_problem(t)
    if problem:
        if "task" in typed and "dataset" not in typed:
            names = datasets_for(t)
            raise Misfit(f"{problem}; datasets for task={t}: {', '.join(names) or '(none offline)'}",
                         suggest_dataset(fit, t), about="task")
        also = ""
        if "task" in typed:  # both typed: either may be the one the user meant
            also = f"; datasets for task={t}: {', '.join(datasets_for(t)) or '(none offline)'}"
        raise Misfit(f"{problem}; the tasks for dataset={d}: {', '.join(fit.fitting_tasks())}{also}",
                     fit.suggest_task(), about="task")
    fit.task_misfit(t, fit.tnode)  # the task's own bad or missing values (task.teacher=null) first
    problem = fit.model_misfit(t, m, fit.mnode)
    if problem:
        models, suggestion = fit.suggest_model(t)
        where = f"task={t} and dataset={d}" if d else f"task={t}"
        listed = f"models for {where}: {', '.join(models) or '(none)'}"
        if m and "model" in typed and "task" not in typed and not made_for(tags("model", m), t):
            by_task = suggest_task_for_model(fit)
            if by_task:  # the model was what the user asked for: the task it is made for comes first
                raise Misfit(f"{problem}: add {by_task[0]} (e.g. {' '.join(by_task)}), or choose one of the "
                             f"{listed}", by_task, inline=True, about="model")
        raise Misfit(f"{problem}; {listed}", suggestion, about="model")
    problem = fit.task_misfit(t, fit.tnode)
    if problem:
        message, fixes = problem
        raise Misfit(message, next(([f] for f in fixes if fit.passes(t, None, [f])), []), about="data")
