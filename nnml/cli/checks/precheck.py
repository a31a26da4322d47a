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
CONFIG_DIR_FLAGS = ("-cd", "--config-dir")
CONFIG_NAME_FLAGS = ("-cn", "--config-name")
MAX_COMPOSES = 64  # a sweep's values are composed one at a time; beyond this the jobs check themselves

# Every flag of Hydra's command line (its own parser answers an unknown one with its whole usage text)
HYDRA_FLAGS = {"-h", "--help", "--hydra-help", "--version", "-c", "--cfg", "--resolve", "-p", "--package", "-r",
               "--run", "-m", "--multirun", "-sc", "--shell-completion", "-cp", "--config-path", "-cn",
               "--config-name", "-cd", "--config-dir", "--experimental-rerun", "-i", "--info"}

# Hydra flags whose next argument is their value (``--cfg job``), which must stay next to the flag
HYDRA_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp", "--config-name",
                     "-cn", "--config-dir", "-cd", "--experimental-rerun"}

# What compose_or_explain composes: the primary config and the user's config folders (-cn, -cd), per precheck.
_CTX: dict = {"name": "train", "base": []}


def split_hydra_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra flags with their values, overrides): nnml accepts Hydra's flags anywhere on its command line and
    hands them to Hydra first, where Hydra's own parser wants them."""
    flags, rest, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and not arg.startswith("~"):
            flags.append(arg)
            nxt = args[i + 1] if i + 1 < len(args) else None
            if arg in HYDRA_VALUE_FLAGS and nxt is not None and "=" not in nxt and not nxt.startswith("-"):
                flags.append(nxt)
                i += 1
        else:
            rest.append(arg)
        i += 1
    return flags, rest


def _check_flag(flag: str) -> None:
    """A flag Hydra does not have (``--epochs 5``) is one line naming the override that sets it, not Hydra's usage."""
    name = flag.split("=", 1)[0]
    if name in HYDRA_FLAGS or not name.startswith("-"):
        return
    from nnml.errors import did_you_mean

    word = name.lstrip("-").replace("-", "_")
    keys = _known_keys()
    exact = [k for k in keys if k.rsplit(".", 1)[-1] == word]
    guess = did_you_mean(name, sorted(f for f in HYDRA_FLAGS if f.startswith("--")))
    if guess and not exact:
        raise NnmlError(f"{name} is not a flag of nnml train{guess}")
    matches = exact or [k for k in keys if word and word in k.rsplit(".", 1)[-1]]
    hint = f"e.g. {matches[0]}=..." if matches else "e.g. trainer.max_epochs=5"
    raise NnmlError(f"{name} is not a flag of nnml train: settings are key=value overrides ({hint}); nnml list "
                    f"shows the groups, nnml train --cfg job every key")


def _known_keys() -> list[str]:
    """Every key of the default composed config (for hints); none when it cannot be composed."""
    from omegaconf import OmegaConf

    from nnml.config.compose import compose_train

    try:
        return _flat_keys(OmegaConf.to_container(compose_train([]), resolve=False))
    except Exception:
        return []


def _read_flags(flags: list[str]) -> dict | None:
    """The flags precheck understands (-m, -cd DIR, -cn NAME); None when another flag (--cfg, --help, --info,
    -cp, ...) changes what the command does, which Hydra then answers itself."""
    out = {"multirun": False, "config_dir": None, "config_name": None}
    i = 0
    while i < len(flags):
        flag, value = flags[i], None
        if "=" in flag:
            flag, value = flag.split("=", 1)
        if flag in MULTIRUN_FLAGS:
            out["multirun"] = True
        elif flag in CONFIG_DIR_FLAGS + CONFIG_NAME_FLAGS:
            if value is None:
                i += 1
                value = flags[i] if i < len(flags) else None
            if value is None:
                raise NnmlError(f"{flag} needs a value: {flag} DIR (a folder of configs) or {flag} NAME")
            out["config_dir" if flag in CONFIG_DIR_FLAGS else "config_name"] = value
        else:
            return None
        i += 1
    return out


def precheck_train(args: list[str]) -> list[str]:
    """Raise :class:`NnmlError` for the first bad argument of ``nnml train``. Returns overrides to add to the
    command: the values of group options the user typed that an experiment preset would otherwise replace."""
    flags, overrides = split_hydra_flags(args)
    for flag in flags:
        _check_flag(flag)
    opts = _read_flags(flags)
    if opts is None:
        parse_overrides(overrides)  # --help, --cfg, --info: Hydra answers them, but a bad override is still one line
        return []
    multirun = opts["multirun"]
    from nnml.config.catalog import set_user_dirs

    base = []
    set_user_dirs([])
    if opts["config_dir"]:
        folder = Path(opts["config_dir"]).expanduser()
        if not folder.is_dir():
            raise NnmlError(f"-cd {opts['config_dir']}: no such folder; -cd names a folder of your own configs "
                            f"(group folders with option files, e.g. DIR/optimizer/mine.yaml)")
        set_user_dirs([folder])
        # The folder holding the primary config (-cn NAME, e.g. tune's best.yaml, or the packaged train.yaml) is
        # the one Hydra is initialized on; the other goes on the search path for group options.
        from nnml.config import config_dir as shipped_dir

        own = (folder / f"{opts['config_name'] or 'train'}.yaml").is_file()
        other = shipped_dir() if own else str(folder.resolve())
        base = [f"hydra.searchpath=[file://{other}]"]
    _CTX.update(name=opts["config_name"] or "train", base=base)
    parsed = parse_overrides(overrides)
    resume = next((str(o.value()) for o in parsed if o.key_or_group == "resume" and o.value() is not None), None)
    if resume is not None and multirun:
        raise NnmlError(f"resume={resume} continues one run and cannot be combined with -m; drop -m")
    saved = _saved_overrides(resume) if resume else []
    jobs = _job_variants(parsed) if multirun else [overrides]

    from hydra import initialize_config_dir

    import nnml.config.resolvers  # noqa: F401  (as the real run does)
    from nnml.cli.checks.semantic import check_config
    from nnml.config import config_dir
    from nnml.config.targets import check_targets
    from nnml.config.validate import validate

    extra: list[str] = []
    own = opts["config_dir"] and (Path(opts["config_dir"]).expanduser() / f"{_CTX['name']}.yaml").is_file()
    primary = str(Path(opts["config_dir"]).expanduser().resolve()) if own else config_dir()
    with initialize_config_dir(config_dir=primary, version_base="1.3"):
        for n, job in enumerate(jobs[:MAX_COMPOSES]):
            _check_optional_groups(job, multirun)
            cfg, choices = compose_with_choices(saved + job)
            if resume:
                from omegaconf import OmegaConf

                from nnml.config.rundir import resolve_resume, resumed_config

                cfg = resumed_config(OmegaConf.create({"resume": resume}), job)
                resolve_resume(resume)
            validate(cfg)
            if resume:  # read back from a run folder: only what that run recorded (a new run's are the user's own)
                check_targets(cfg, list(cfg.get("allowed_targets") or []))
            typed_loss = next((str(o.value()) for o in parsed if o.key_or_group == "loss" and not o.is_add()
                               and isinstance(o.value(), str)), None)
            check_config(cfg, loss_name=str(choices.get("loss") or ""), choices=choices, typed_loss=typed_loss)
            if n == 0 and not resume and not multirun:  # a sweep's values are not one config to compare
                extra = typed_choices_over_preset(overrides, parsed)
    if resume:
        _refuse_rerun_of_finished(resume, parsed)  # after its config passed every check above
    else:
        _check_output_dir(parsed, multirun)
    return extra


OPTIONAL_GROUPS = ("experiment",)  # `optional` in train.yaml's defaults: Hydra skips a missing option silently


def _is_sweep_preset(group: str, option: str) -> bool:
    from nnml.config.catalog import option_files

    path = option_files(group).get(option)
    return path is not None and "sweeper:" in path.read_text()


def _default_choice(group: str) -> str:
    from nnml.config.catalog import DEFAULT_OPTIONS

    return DEFAULT_OPTIONS.get(group, "")


def typed_choices_over_preset(overrides: list[str], parsed) -> list[str]:
    """What the user typed wins over an experiment preset: for each group option typed beside ``experiment=``
    (``trainer=fast experiment=moons_tanh``), the keys that option sets itself and the preset would replace
    (trainer.max_epochs 3 -> 40) are given back their option's value as explicit overrides; a note says so."""
    from omegaconf import OmegaConf

    from nnml.config.catalog import all_groups

    exp = [o for o in parsed if o.key_or_group.lstrip("+") in OPTIONAL_GROUPS and not o.is_sweep_override()]
    if not exp:
        return []
    gs = set(all_groups())
    typed_keys = {o.key_or_group.lstrip("+~") for o in parsed}
    typed_groups = [o for o in parsed if o.key_or_group in gs and o.key_or_group not in OPTIONAL_GROUPS
                    and not o.is_sweep_override() and o.value() is not None]
    if not typed_groups:
        return []
    # Only group choices are composed without the preset: a key override may exist only under the preset's
    # options (experiment=digits_cnn model.channels=[8,16]), and typed keys are the user's anyway.
    pairs = [(t, o) for t, o in zip(overrides, parsed) if o not in exp and o.key_or_group in gs]
    without = [t for t, _ in pairs]
    mine = OmegaConf.to_container(compose_or_explain(without), resolve=False)
    final = OmegaConf.to_container(compose_or_explain(overrides), resolve=False)
    extra, notes = [], []
    for o in typed_groups:
        group = o.key_or_group
        default = [t for t, p in pairs if p is not o]
        base = OmegaConf.to_container(compose_or_explain(default), resolve=False)
        a, b, c = (dict(_flat_items(d.get(group), group)) for d in (mine, base, final))
        for key, value in a.items():
            if key in typed_keys or key.rsplit(".", 1)[-1].startswith("_"):
                continue
            if b.get(key, _ABSENT) != value and c.get(key, _ABSENT) != value:
                extra.append(f"{key}={override_value(value)}")
                notes.append(f"{key}={override_value(value)} (the preset sets {override_value(c.get(key))})")
    if notes:
        import sys

        name = exp[0].key_or_group.lstrip("+")
        print(f"note: kept what you typed over {name}={exp[0].value()}: {', '.join(notes)}", file=sys.stderr)
    return extra


def _flat_items(node, prefix: str):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _flat_items(v, f"{prefix}.{k}")
    else:
        yield prefix, node


def override_value(v) -> str:
    """``v`` written in Hydra's override grammar."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{override_value(x)}" for k, x in v.items()) + "}"
    text = str(v)
    return text if text.replace("_", "").replace(".", "").replace("/", "").isalnum() else "'" + text.replace(
        "'", "\\'") + "'"


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
                from nnml.config.catalog import groups

                listing = f"nnml list {text} shows its options" if text in groups() else "nnml list shows the groups"
                raise NnmlError(f"'{text}' is not an override; write key=value (e.g. trainer.max_epochs=3) or "
                                f"group=option (e.g. optimizer=sgd); {listing}") from None
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


# Overrides that change where or how fast a run goes, not what it learns: they do not ask a finished run for more.
def _how_keys() -> tuple[str, ...]:
    from nnml.config.rundir import SEGMENT_KEYS

    return ("resume", *SEGMENT_KEYS, "hydra.run.dir", "hydra.output_subdir")


def _refuse_rerun_of_finished(resume: str, parsed) -> None:
    """``nnml train resume=RUN`` on a run that finished would only rewrite its result (stop reason, wall time):
    refused, with the way to train it further. With other overrides (more epochs, patience) it goes on."""
    import json

    from nnml.config.rundir import run_dir_of

    try:
        run_dir = run_dir_of(resume)
    except NnmlError:
        return
    metrics = Path(run_dir) / "metrics.json"
    if not metrics.is_file() or any(o.key_or_group.lstrip("+~") not in _how_keys() for o in parsed):
        return
    try:
        m = json.loads(metrics.read_text())
    except ValueError:
        return
    # A finished run is "nothing to do" only when its checkpoints are sound: a torn or foreign one is reported.
    from nnml.config.rundir import resolve_resume
    from nnml.engine.checkpoint import load_checkpoint

    last, best = resolve_resume(resume)
    load_checkpoint(last)
    if best is not None:
        load_checkpoint(best)
    monitor = m.get("monitor") or "val/loss"
    result = f"{monitor} {m[monitor]:.4g}, " if isinstance(m.get(monitor), (int, float)) else ""
    raise NothingToDo(f"{resume} already trained {m.get('epochs', '?')} epochs ({result}stopped by "
                      f"{m.get('stop_reason', '?')}); its result is kept as it is. To train it further give more "
                      f"epochs: nnml train resume={resume} trainer.max_epochs={int(m.get('epochs') or 0) + 10}")


class NothingToDo(NnmlError):
    """The command asks for nothing new (resuming a finished run): say so and exit 0, writing nothing."""

    exit_code = 0


def _saved_overrides(resume: str) -> list[str]:
    from nnml.config.rundir import run_dir_of, saved_group_choices

    try:
        return saved_group_choices(run_dir_of(resume))
    except NnmlError:
        return []  # resumed_config below names what is wrong with resume=


def compose_with_choices(overrides: list[str]):
    """(config without its ``hydra`` node, group choices) for ``overrides``; errors as in compose_or_explain."""
    from omegaconf import open_dict

    cfg = compose_or_explain(overrides, return_hydra_config=True)
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not str(k).startswith("hydra/")}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def compose_or_explain(overrides: list[str], return_hydra_config: bool = False):
    """``compose("train", overrides)`` inside an initialized Hydra (with the user's -cd folder and -cn config
    of this command); composition errors become one line."""
    from hydra import compose
    from hydra.errors import ConfigCompositionException, HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose(config_name=_CTX["name"], overrides=[*_CTX["base"], *overrides],
                       return_hydra_config=return_hydra_config)
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

    from nnml.config.catalog import NOT_TRAIN_GROUPS, all_groups, option_keys, options

    gs = all_groups()
    value = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == key and "=" in o), "")
    if key in NOT_TRAIN_GROUPS:
        return NnmlError(f"{key}={value}: {key} is not a group of nnml train; it holds {NOT_TRAIN_GROUPS[key]}")
    group_choices = [o for o in overrides if o.split("=", 1)[0] in gs]
    try:
        cfg = OmegaConf.to_container(compose(config_name=_CTX["name"], overrides=[*_CTX["base"], *group_choices]),
                                     resolve=False)
    except Exception:
        cfg = {}
    keys = sorted(set(_flat_keys(cfg)) | set(gs))
    # a key typed without its group (lr=0.1): the key whose last part it is, else the closest spelling
    tails = [k for k in keys if "." not in key and k.rsplit(".", 1)[-1] == key]
    hint = f" (did you mean '{tails[0]}'?)" if len(tails) == 1 else did_you_mean(key, keys)
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    node = OmegaConf.select(OmegaConf.create(cfg), parent) if parent and cfg else None
    if parent in gs and (node is None or (OmegaConf.is_dict(node) and not len(node))):
        chosen = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == parent), "")
        chosen = chosen or _default_choice(parent)
        having = [o for o in options(parent) if key.split(".", 1)[1].split(".")[0] in option_keys(parent, o)]
        example = having[0] if having else next((o for o in options(parent) if o != chosen), "")
        return NnmlError(f"{key}={value}: {parent}={chosen} has no keys to set; choose a {parent} first, e.g. "
                         f"{parent}={example} {key}={value} (nnml list {parent} shows the options)")
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
