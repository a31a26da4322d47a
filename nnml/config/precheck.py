"""Checks on ``nnml train``'s arguments before Hydra starts a run, so that a bad input costs one line, exit code 2
and nothing written to outputs/.

The overrides are composed with Hydra's compose API (no run folder, no logging set-up) and the result is validated
(:mod:`nnml.config.validate`, allowed targets). Hydra's own messages for a misspelled option, key or group are
several lines long and offer no close match; here they become one line with a did-you-mean. A sweep (``-m``) is
checked value by value: every value of every swept key is composed once, with the other keys at their first value.
Invocations with other Hydra flags (``--cfg``, ``--help``, ``--info``, ``-cd``, ...) are left to Hydra as they are.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nnml.errors import NnmlError, bad_choice, did_you_mean

MULTIRUN_FLAGS = ("-m", "--multirun")
MAX_COMPOSES = 64  # a sweep's values are composed one at a time; beyond this the jobs check themselves


def precheck_train(args: list[str]) -> None:
    """Raise :class:`NnmlError` for the first bad argument of ``nnml train``; return quietly when all is well."""
    if any(a.startswith("-") and a not in MULTIRUN_FLAGS for a in args):
        return  # Hydra's flags (--cfg job, --help, -cd DIR, ...) change what composing means: Hydra answers those
    multirun = any(a in MULTIRUN_FLAGS for a in args)
    overrides = [a for a in args if a not in MULTIRUN_FLAGS]
    parsed = parse_overrides(overrides)
    resume = next((str(o.value()) for o in parsed if o.key_or_group == "resume" and o.value() is not None), None)
    if resume is not None and multirun:
        raise NnmlError(f"resume={resume} continues one run and cannot be combined with -m; drop -m")
    saved = _saved_overrides(resume) if resume else []
    jobs = _job_variants(parsed) if multirun else [overrides]

    from hydra import initialize_config_dir

    import nnml.config.resolvers  # noqa: F401  (as the real run does)
    from nnml.config import config_dir
    from nnml.config.build import check_targets
    from nnml.config.validate import validate

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        for job in jobs[:MAX_COMPOSES]:
            _check_optional_groups(job, multirun)
            cfg = compose_or_explain(saved + job)
            if resume:
                from omegaconf import OmegaConf

                from nnml.config.rundir import resolve_resume, resumed_config

                cfg = resumed_config(OmegaConf.create({"resume": resume}), job)
                resolve_resume(resume)
            validate(cfg)
            if resume:  # read back from a run folder: only what that run recorded (a new run's are the user's own)
                check_targets(cfg, list(cfg.get("allowed_targets") or []))
    if not resume:
        _check_output_dir(parsed, multirun)


OPTIONAL_GROUPS = ("experiment",)  # `optional` in train.yaml's defaults: Hydra skips a missing option silently


def _is_sweep_preset(group: str, option: str) -> bool:
    from nnml.config.catalog import groups

    return "sweeper:" in (groups()[group] / f"{option}.yaml").read_text()


def _check_optional_groups(job: list[str], multirun: bool) -> None:
    """A mistyped ``experiment=`` would otherwise train the default config without a word."""
    from nnml.config.catalog import options

    for arg in job:
        key, _, value = arg.partition("=")
        key = key.lstrip("+~")
        if key in OPTIONAL_GROUPS and value and value != "null" and not value.startswith(("glob(", "choice(")):
            valid = options(key)
            if value not in valid:
                raise bad_choice(key, value, valid)
            if not multirun and _is_sweep_preset(key, value):
                raise NnmlError(f"{key}={value} is a sweep preset: run it with -m (nnml train -m {key}={value}); "
                                f"without -m it would train only its first job")


def parse_overrides(overrides: list[str]) -> list:
    """Hydra's parse of each override, with a one-line message naming the one that does not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    out = []
    for text in overrides:
        try:
            out.extend(parser.parse_overrides([text]))
        except OverrideParseException as e:
            if "=" not in text:
                raise NnmlError(f"'{text}' is not an override; write key=value (e.g. trainer.max_epochs=3) or "
                                f"group=option (e.g. optimizer=sgd); nnml list shows the groups") from None
            reason = str(e).strip().splitlines()[0]
            raise NnmlError(f"'{text}' is not a valid override ({reason}); quote values with spaces or brackets, "
                            f"e.g. 'model.hidden=[64,64]'") from None
    return out


def _job_variants(parsed) -> list[list[str]]:
    """Override lists that together use every swept value once: the first value of each, then one value changed."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    try:
        values = [BasicSweeper.split_arguments([ov], None)[0] for ov in parsed]
    except Exception:
        return []  # a sweep only another sweeper understands (interval, tags): its jobs check themselves
    first = [v[0] for v in values]
    jobs = [sum(first, [])]
    for i, vals in enumerate(values):
        for v in vals[1:]:
            jobs.append(sum(first[:i] + [v] + first[i + 1:], []))
    return jobs


def _saved_overrides(resume: str) -> list[str]:
    from nnml.config.rundir import run_dir_of, saved_group_choices

    try:
        return saved_group_choices(run_dir_of(resume))
    except NnmlError:
        return []  # resumed_config below names what is wrong with resume=


def compose_or_explain(overrides: list[str]):
    """``compose("train", overrides)`` inside an initialized Hydra; composition errors become one line."""
    from hydra import compose
    from hydra.errors import ConfigCompositionException, HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose(config_name="train", overrides=list(overrides))
    except ConfigCompositionException as e:
        raise explain_composition(str(e), overrides) from None
    except (HydraException, OmegaConfBaseException) as e:
        raise NnmlError(_one_line(str(e))) from None


def explain_composition(msg: str, overrides: list[str]) -> NnmlError:
    """One line with a close match for Hydra's 'Could not find' / 'Could not override' / 'Could not append'."""
    m = re.search(r"Could not find '([^']+)/([^'/]+)'", msg)
    if m:
        group, option = m.groups()
        listed = msg.split("Available options", 1)[-1].split("Config search path", 1)[0]
        choices = re.findall(r"^\t(\S+)\s*$", listed, re.M)
        if choices:
            return bad_choice(group, option, choices)
        return NnmlError(f"{group}={option} is not valid: {group} has no option {option}; nnml list {group} shows them")
    m = re.search(r"Could not override '([^']+)'", msg)
    if m:
        return _unknown_key(m.group(1), overrides)
    m = re.search(r"An item is already at '([^']+)'", msg)
    if m:
        key = m.group(1)
        return NnmlError(f"+{key}=...: {key} already exists, so it cannot be added; write {key}=... to change it")
    return NnmlError(_one_line(msg))


def _unknown_key(key: str, overrides: list[str]) -> NnmlError:
    """A key (or group) the composed config does not have: the closest key and the keys that are there."""
    from hydra import compose
    from omegaconf import OmegaConf

    from nnml.config.catalog import NOT_TRAIN_GROUPS, groups

    gs = groups()
    value = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == key and "=" in o), "")
    if key in NOT_TRAIN_GROUPS:
        return NnmlError(f"{key}={value}: {key} is not a group of nnml train; it holds {NOT_TRAIN_GROUPS[key]}")
    group_choices = [o for o in overrides if o.split("=", 1)[0] in gs]
    try:
        cfg = OmegaConf.to_container(compose(config_name="train", overrides=group_choices), resolve=False)
    except Exception:
        cfg = {}
    keys = sorted(set(_flat_keys(cfg)) | set(gs))
    hint = did_you_mean(key, keys)
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    node = OmegaConf.select(OmegaConf.create(cfg), parent) if parent and cfg else None
    if parent and OmegaConf.is_dict(node):
        valid = f"the keys of {parent} are: {', '.join(sorted(str(k) for k in node.keys()))}"
    else:
        valid = (f"the groups are: {', '.join(g for g in gs if '/' not in g)}; other top-level keys: "
                 f"{', '.join(k for k in cfg if k not in gs)}")
    return NnmlError(f"{key}={value}: no such config key or group{hint}; {valid} (to add a new key on purpose "
                     f"write +{key}=...)")


def _flat_keys(node, prefix: str = "") -> list[str]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            out.append(name)
            out.extend(_flat_keys(v, name))
    return out


def _check_output_dir(parsed, multirun: bool) -> None:
    """The run (or sweep) folder must be creatable: refuse a parent that is a file or not writable."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = next((str(o.value()) for o in parsed if o.key_or_group == key), None)
    target = Path(given) if given else Path("outputs")
    p = target.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    where = f"{key}={given}" if given else f"the output folder {target.absolute()}"
    if not p.is_dir():
        raise NnmlError(f"{where} cannot be created: {p} is a file, not a folder; choose another folder with "
                        f"{key}=...")
    if not os.access(p, os.W_OK):
        raise NnmlError(f"{where} cannot be created: {p} is not writable; choose a folder you can write to with "
                        f"{key}=...")


def _one_line(msg: str) -> str:
    lines = []
    for line in msg.strip().splitlines():
        if line.startswith(("Config search path", "Set the environment variable", "See https://hydra.cc")):
            break
        if line.strip():
            lines.append(line.strip())
    return " ".join(lines) or "the overrides could not be composed"


def apply_key_overrides(cfg, overrides: list[str], source: str):
    """Apply ``key=value`` overrides (Hydra's grammar: lists, numbers, null) to a config read from ``source``;
    a key the config lacks is refused with a close match unless written ``+key=value``."""
    from omegaconf import OmegaConf

    keys = _flat_keys(OmegaConf.to_container(cfg, resolve=False))
    for ov in parse_overrides(list(overrides)):
        key = ov.key_or_group
        if OmegaConf.is_dict(OmegaConf.select(cfg, key, default=None)) and not OmegaConf.is_dict(ov.value()):
            raise NnmlError(f"{key}={ov.value()}: {key} is a whole config group of {source}, which is evaluated with "
                            f"the options it was trained with; override its keys ({key}.<key>=...) instead")
        if OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT and not ov.is_add():
            raise NnmlError(f"{key}={ov.value()}: {source} has no key {key}{did_you_mean(key, keys)} (to add a new "
                            f"key on purpose write +{key}=...)")
        OmegaConf.update(cfg, key, ov.value(), merge=True, force_add=ov.is_add())
    return cfg


_ABSENT = object()
