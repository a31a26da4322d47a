"""Checks on ``nnml train``'s arguments before Hydra starts a run, so that a bad input costs one line, exit code 2
and nothing written to outputs/.

The overrides are composed with Hydra's compose API (no run folder, no logging set-up) and the result is validated
(:mod:`nnml.config.validate`, allowed targets). Hydra's own messages for a misspelled option, key or group are
several lines long and offer no close match; here they become one line with a did-you-mean. A sweep (``-m``) is
checked value by value: every value of every swept key is composed once, with the other keys at their first value.
A model or loss of the user's own goes through one batch of the real data first (:mod:`nnml.cli.checks.probe`).
Invocations with other Hydra flags (``--cfg``, ``--help``, ``--info``, ``-cd``, ...) are left to Hydra as they are.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from nnml.config.overrides import ABSENT as _ABSENT
from nnml.config.overrides import apply_key_overrides, flat_keys, override_value, parse_overrides  # noqa: F401
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
        return flat_keys(OmegaConf.to_container(compose_train([]), resolve=False))
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


@dataclass
class TrainPlan:
    """What ``nnml train`` will do once its command line passed every check."""

    kind: str  # run, sweep, resume, or hydra (--cfg, --help, --info: Hydra answers, nothing runs)
    extra: list = field(default_factory=list)  # overrides to add (what the user typed over a preset)
    notes: list = field(default_factory=list)  # lines for stderr
    folder: str = ""  # the run or sweep folder to claim
    folder_given: bool = False  # the user named it (hydra.run.dir=...)
    folder_key: str = "hydra.run.dir"
    folder_overrides: list = field(default_factory=list)  # resume: Hydra's run dir is the run's own
    argv: list = field(default_factory=list)  # the command line to run (``--continue`` expanded)
    typed: list = field(default_factory=list)  # ... and as typed (the CLI fills it in)
    hydra_flags: list = field(default_factory=list)  # Hydra's flags to use (-cd DIR becomes --config-path and
    #                                                    hydra.searchpath: the user's options win)
    varies: dict = field(default_factory=dict)  # a sweep's keys -> {value as Hydra writes it: as typed}
    keep_run: bool = True  # false (debug=fast): the command removes the run or sweep folder once it finished
    params: dict = field(default_factory=dict)  # a sweep preset's sweeper params
    naming: dict = field(default_factory=dict)  # hydra.job.config.override_dirname: how job folders are named
    continues: dict = field(default_factory=dict)  # a sweep folder that holds jobs: their states (sweep/jobs.py)


def precheck_train(args: list[str]) -> TrainPlan:
    """Raise :class:`NnmlError` for the first bad argument of ``nnml train``; return what the command will do."""
    flags, overrides = split_hydra_flags(args)
    for flag in flags:
        _check_flag(flag)
    opts = _read_flags(flags)
    if opts is None:
        parse_overrides(overrides)  # --help, --cfg, --info: Hydra answers them, but a bad override is still one line
        return TrainPlan("hydra", argv=list(args), hydra_flags=list(flags))
    multirun = opts["multirun"]
    if opts["config_dir"]:
        folder = Path(opts["config_dir"]).expanduser()
        if not folder.is_dir():
            raise NnmlError(f"-cd {opts['config_dir']}: no such folder; -cd names a folder of your own configs "
                            f"(group folders with option files, e.g. DIR/optimizer/mine.yaml)")
    from nnml.config.compose import Composer

    composer = Composer(opts["config_name"] or "train", opts["config_dir"])
    path_flags, path_overrides = composer.hydra_args()
    user_dirs = [composer.user_dir] if composer.user_dir else []
    parsed = parse_overrides(overrides)
    resume = next((str(o.value()) for o in parsed if o.key_or_group == "resume" and o.value() is not None), None)
    if resume is not None and multirun:
        raise NnmlError(f"resume={resume} continues one run and cannot be combined with -m; drop -m")
    run = _resume_folder(resume) if resume else None
    saved = _saved_overrides(run) if run else []
    jobs = _job_variants(parsed) if multirun else [overrides]

    from omegaconf import OmegaConf

    from nnml.cli.checks.probe import probe
    from nnml.cli.checks.semantic import check_config
    from nnml.config.targets import Trust
    from nnml.config.validate import validate

    plan = TrainPlan("sweep" if multirun else "resume" if resume else "run", argv=list(args),
                     hydra_flags=[*_without_config_dir(flags), *path_flags])
    probed_data: dict = {}  # the data a one-batch probe built, shared by a sweep's jobs
    with composer:
        for n, job in enumerate(jobs[:MAX_COMPOSES]):
            _check_optional_groups(job, multirun, user_dirs)
            cfg, choices, hydra_cfg = compose_with_choices(composer, saved + job)
            trust = Trust.own(cfg)
            if run is not None:
                from nnml.config.resume import resolve_resume, resumed_config

                cfg, trust, _ = resumed_config(cfg, job, allow=trust.prefixes)
                _check_checkpoints(*resolve_resume(resume))
            validate(cfg)
            typed_loss = next((str(o.value()) for o in parsed if o.key_or_group == "loss" and not o.is_add()
                               and isinstance(o.value(), str)), None)
            typed_groups = {o.key_or_group.lstrip("+") for o in parsed if not o.is_delete()}
            check_config(cfg, loss_name=str(choices.get("loss") or ""), choices=choices, typed_loss=typed_loss,
                         trust=trust, typed_groups=typed_groups)
            if run is None:  # a resumed run already trained with its code
                probe(cfg, trust, probed_data)
            if n == 0:
                plan.keep_run = bool(cfg.get("keep_run", True)) or run is not None  # a resumed run is never removed
                plan.params = dict(hydra_cfg.sweeper.get("params") or {}) if multirun else {}
                plan.naming = OmegaConf.to_container(hydra_cfg.job.config.override_dirname, resolve=True)
                plan.folder_key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
                plan.folder = str(hydra_cfg.sweep.dir if multirun else hydra_cfg.run.dir)
                if not resume and not multirun:  # a sweep's values are not one config to compare
                    plan.extra, plan.notes = typed_choices_over_preset(composer, overrides, parsed, user_dirs)
        if not plan.folder:  # a sweep only its sweeper can split (glob, intervals): its folder from the rest
            fixed = [text for text, o in zip(overrides, parsed) if not o.is_sweep_override()]
            _, _, hydra_cfg = compose_with_choices(composer, fixed)
            plan.folder_key, plan.folder = "hydra.sweep.dir", str(hydra_cfg.sweep.dir)
    plan.extra = [*path_overrides, *plan.extra]
    if run is not None:
        _refuse_rerun_of_finished(run, resume, parsed)  # after its config passed every check above
        if run.is_locked():
            raise NnmlError(run.locked_message())
        # The run's own group choices first, so that keys of its options (dataset.noise of moons) compose; Hydra
        # writes no new .hydra over the saved config (the job reads that config itself).
        plan.folder, plan.folder_given = str(run.path.resolve()), True
        plan.folder_overrides = [*saved, f"hydra.run.dir='{_escaped(run.path.resolve())}'", "hydra.output_subdir=null"]
        plan.extra = [o for o in plan.extra if o not in saved]
        return plan
    given = next((str(o.value()) for o in parsed if o.key_or_group == plan.folder_key), None)
    if given is not None:
        plan.folder, plan.folder_given = given, True
    _check_output_dir(plan)
    if multirun:
        from nnml.config.notation import varied_values

        plan.varies = varied_values(overrides, plan.params)
        if plan.folder_given and Path(plan.folder).is_dir():
            check_continuation(plan, composer, overrides)
    return plan


def check_continuation(plan: TrainPlan, composer, overrides: list[str]) -> None:
    """A sweep into a folder that holds an earlier run of it continues that sweep (nnml/sweep/jobs.py): it must vary
    the same keys (they name the job folders), and every job that finished or was interrupted must compose to the
    config it was trained with; a job folder another process writes is refused. Fills ``plan.continues`` with
    the state of each job."""
    from nnml.config.resolvers import read_manifest
    from nnml.config.runfolder import RunFolder
    from nnml.sweep import jobs as J

    sweep = Path(plan.folder)
    earlier = read_manifest(sweep)
    if not earlier and not any(RunFolder(p).is_run() for p in sweep.iterdir() if p.is_dir()):
        return
    old_keys, new_keys = list(earlier.get("varies") or {}), list(plan.varies)
    if earlier and set(old_keys) != set(new_keys):
        raise NnmlError(f"{plan.folder_key}={plan.folder} holds a sweep over {', '.join(old_keys) or 'nothing'}; "
                        f"this command sweeps {', '.join(new_keys) or 'nothing'}. A continued sweep varies the same "
                        f"keys (they name its job folders); choose a new {plan.folder_key}")
    try:
        grid = J.expand(plan.params, overrides)
    except Exception:
        return  # a sweep only another sweeper expands: each job checks its own folder when it starts
    varies = J.merged_varies(earlier.get("varies") or {}, plan.varies)
    naming = plan.naming or {}
    states = {}
    with composer:
        for job in grid:
            name = J.folder_name(job, varies, naming.get("exclude_keys") or (), naming.get("item_sep", ","),
                                 naming.get("kv_sep", "="))
            run = RunFolder(sweep / name)
            state = J.job_state(run)
            states[name] = state
            if state == J.NEW:
                continue
            if run.is_locked():
                raise NnmlError(run.locked_message())
            if state in (J.DONE, J.INTERRUPTED) and run.is_run():
                cfg, _, _ = compose_with_choices(composer, job)
                changes = J.changed_keys(run, cfg)
                if changes:
                    raise NnmlError(J.changed_message(run, plan.folder_key, changes))
    plan.continues = states


def _without_config_dir(flags: list[str]) -> list[str]:
    """``flags`` without ``-cd DIR`` (the plan names the folder its own way: see Composer.hydra_args)."""
    out, skip = [], False
    for flag in flags:
        if skip:
            skip = False
            continue
        name = flag.split("=", 1)[0]
        if name in CONFIG_DIR_FLAGS:
            skip = "=" not in flag
            continue
        out.append(flag)
    return out


def _escaped(path) -> str:
    return str(path).replace("\\", "\\\\").replace("'", "\\'")


def _check_checkpoints(*paths) -> None:
    """A resume's checkpoints must be sound and hold only tensors and plain data before the job takes the folder's
    lock and records its config there: a refused resume writes nothing into the folder (a hostile pickle found
    only by the job's own load came after both). Mapped, not read: the job loads them in full."""
    from nnml.engine.checkpoint import load_checkpoint

    for path in paths:
        if path is not None:
            load_checkpoint(path, mmap=True)


def _resume_folder(resume: str):
    from nnml.config.resume import run_folder_of

    return run_folder_of(resume)


OPTIONAL_GROUPS = ("experiment", "debug")  # `optional` in train.yaml's defaults: Hydra skips a missing option silently
PRESET_GROUPS = ("experiment",)  # what the user types beside one of these wins over it (debug presets win)


def _option_not_found(group: str, option: str, choices, user_dirs) -> NnmlError:
    """``group=option`` that no config folder holds: the close match, or, when the folder nnml runs from has
    ``conf/group/option.yaml`` and no ``-cd`` named it, the flag that would find it."""
    from nnml.config.catalog import local_option

    local = None if user_dirs else local_option(group, option)
    if local is not None:
        folder = local.parent.parent
        return NnmlError(f"{group}={option} is in {folder.name}/{group}/{option}.yaml, your own config folder, which "
                         f"nnml reads only when you name it: add -cd {folder.name} (nnml train -cd {folder.name} "
                         f"{group}={option})")
    return bad_choice(group, option, choices)


def _is_sweep_preset(group: str, option: str, user_dirs=()) -> bool:
    from nnml.config.catalog import option_files

    path = option_files(group, user_dirs).get(option)
    return path is not None and "sweeper:" in path.read_text()


def _default_choice(group: str) -> str:
    from nnml.config.catalog import DEFAULT_OPTIONS

    return DEFAULT_OPTIONS.get(group, "")


def typed_choices_over_preset(composer, overrides: list[str], parsed, user_dirs=()) -> tuple[list[str], list[str]]:
    """What the user typed wins over an experiment preset: for each group option typed beside ``experiment=``
    (``trainer=fast experiment=moons_tanh``), the keys that option sets itself and the preset would replace
    (trainer.max_epochs 3 -> 40) are given back their option's value as explicit overrides. Returns (those
    overrides, a note saying so)."""
    from omegaconf import OmegaConf

    from nnml.config.catalog import all_groups

    exp = [o for o in parsed if o.key_or_group.lstrip("+") in PRESET_GROUPS and not o.is_sweep_override()]
    if not exp:
        return [], []
    gs = set(all_groups(user_dirs))
    typed_keys = {o.key_or_group.lstrip("+~") for o in parsed}
    typed_groups = [o for o in parsed if o.key_or_group in gs and o.key_or_group not in OPTIONAL_GROUPS
                    and not o.is_sweep_override() and o.value() is not None]
    if not typed_groups:
        return [], []
    # Only group choices are composed without the preset: a key override may exist only under the preset's
    # options (experiment=digits_cnn model.channels=[8,16]), and typed keys are the user's anyway.
    pairs = [(t, o) for t, o in zip(overrides, parsed) if o not in exp and o.key_or_group in gs]
    without = [t for t, _ in pairs]
    mine = OmegaConf.to_container(compose_or_explain(composer, without), resolve=False)
    final = OmegaConf.to_container(compose_or_explain(composer, overrides), resolve=False)
    extra, notes = [], []
    for o in typed_groups:
        group = o.key_or_group
        default = [t for t, p in pairs if p is not o]
        base = OmegaConf.to_container(compose_or_explain(composer, default), resolve=False)
        a, b, c = (dict(_flat_items(d.get(group), group)) for d in (mine, base, final))
        for key, value in a.items():
            if key in typed_keys or key.rsplit(".", 1)[-1].startswith("_"):
                continue
            if b.get(key, _ABSENT) != value and c.get(key, _ABSENT) != value:
                extra.append(f"{key}={override_value(value)}")
                notes.append(f"{key}={override_value(value)} (the preset sets {override_value(c.get(key))})")
    if notes:
        name = exp[0].key_or_group.lstrip("+")
        notes = [f"kept what you typed over {name}={exp[0].value()}: {', '.join(notes)}"]
    return extra, notes


def _flat_items(node, prefix: str):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _flat_items(v, f"{prefix}.{k}")
    else:
        yield prefix, node


def _check_optional_groups(job: list[str], multirun: bool, user_dirs=()) -> None:
    """A mistyped ``experiment=`` would otherwise train the default config without a word."""
    from nnml.config.catalog import options

    for arg in job:
        key, _, value = arg.partition("=")
        key = key.lstrip("+~")
        if key in OPTIONAL_GROUPS and value and value != "null" and not value.startswith(("glob(", "choice(")):
            valid = options(key, user_dirs=user_dirs)
            if value not in valid:
                raise _option_not_found(key, value, valid, user_dirs)
            if not multirun and _is_sweep_preset(key, value, user_dirs):
                raise NnmlError(f"{key}={value} is a sweep preset: run it with -m (nnml train -m {key}={value}); "
                                f"without -m it would train only its first job")


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
    from nnml.config.resume import SEGMENT_KEYS

    return ("resume", "allowed_targets", *SEGMENT_KEYS, "hydra.run.dir", "hydra.output_subdir")


def _refuse_rerun_of_finished(run, resume: str, parsed) -> None:
    """``nnml train resume=RUN`` on a run that finished would only rewrite its result (stop reason, wall time):
    refused, with the way to train it further. With other overrides (more epochs, patience) it goes on."""
    m = run.metrics()
    if m is None or any(o.key_or_group.lstrip("+~") not in _how_keys() for o in parsed):
        return
    # A finished run is "nothing to do" only when its checkpoints are sound: the loop above checked them
    # (_check_checkpoints), so a torn or foreign one was reported already.
    # metrics.json is data from a folder: any value may have any type, and the message must not fail on it.
    monitor = m.get("monitor") if isinstance(m.get("monitor"), str) else "val/loss"
    value = m.get(monitor)
    result = f"{monitor} {value:.4g}, " if isinstance(value, (int, float)) else ""
    epochs = m.get("epochs") if isinstance(m.get("epochs"), int) else None
    import shlex

    raise NothingToDo(f"{resume} already trained {epochs if epochs is not None else '?'} epochs ({result}stopped by "
                      f"{m.get('stop_reason', '?')}); its result is kept as it is. To train it further give more "
                      f"epochs: nnml train resume={shlex.quote(str(resume))} "
                      f"trainer.max_epochs={(epochs or 0) + 10}")


class NothingToDo(NnmlError):
    """The command asks for nothing new (resuming a finished run): say so and exit 0, writing nothing."""

    exit_code = 0


def _saved_overrides(run) -> list[str]:
    from nnml.config.resume import saved_group_choices

    return saved_group_choices(run)


def compose_with_choices(composer, overrides: list[str]):
    """(config without its ``hydra`` node, group choices, the ``hydra`` node) for ``overrides``; errors as in
    compose_or_explain."""
    from omegaconf import open_dict

    cfg = compose_or_explain(composer, overrides, return_hydra_config=True)
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not str(k).startswith("hydra/")}
    hydra_cfg = cfg.hydra
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices, hydra_cfg


def compose_or_explain(composer, overrides: list[str], return_hydra_config: bool = False):
    """``composer.compose(overrides)`` (the user's -cd folder and -cn config of this command); composition errors
    become one line."""
    from hydra.errors import ConfigCompositionException, HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return composer.compose(overrides, return_hydra_config=return_hydra_config)
    except ConfigCompositionException as e:
        raise explain_composition(composer, str(e), overrides) from None
    except (HydraException, OmegaConfBaseException) as e:
        raise NnmlError(_one_line(str(e))) from None


def explain_composition(composer, msg: str, overrides: list[str]) -> NnmlError:
    """One line with a close match for Hydra's 'Could not find' / 'Could not override' / 'Could not append'."""
    m = re.search(r"Could not find '([^']+)/([^'/]+)'", msg)
    if m:
        group, option = m.groups()
        listed = msg.split("Available options", 1)[-1].split("Config search path", 1)[0]
        choices = re.findall(r"^\t(\S+)\s*$", listed, re.M)
        if choices:
            return _option_not_found(group, option, choices, [composer.user_dir] if composer.user_dir else [])
        return NnmlError(f"{group}={option} is not valid: {group} has no option {option}; nnml list {group} shows them")
    m = re.search(r"Could not override '([^']+)'", msg)
    if m:
        return _unknown_key(composer, m.group(1), overrides)
    m = re.search(r"An item is already at '([^']+)'", msg)
    if m:
        key = m.group(1)
        return NnmlError(f"+{key}=...: {key} already exists, so it cannot be added; write {key}=... to change it")
    return NnmlError(_one_line(msg))


def _unknown_key(composer, key: str, overrides: list[str]) -> NnmlError:
    """A key (or group) the composed config does not have: the closest key and the keys that are there."""
    from omegaconf import OmegaConf

    from nnml.config.catalog import NOT_TRAIN_GROUPS, all_groups, option_keys, options

    user_dirs = [composer.user_dir] if composer.user_dir else []
    gs = all_groups(user_dirs)
    value = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == key and "=" in o), "")
    if key in NOT_TRAIN_GROUPS:
        return NnmlError(f"{key}={value}: {key} is not a group of nnml train; it holds {NOT_TRAIN_GROUPS[key]}")
    group_choices = [o for o in overrides if o.split("=", 1)[0] in gs]
    try:
        cfg = OmegaConf.to_container(composer.compose(group_choices), resolve=False)
    except Exception:
        cfg = {}
    keys = sorted(set(flat_keys(cfg)) | set(gs))
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


def _check_output_dir(plan: TrainPlan) -> None:
    """The run (or sweep) folder must be creatable, and a folder the user names must not hold a run: a finished run
    is continued with ``resume=`` (it is never overwritten), a running one is left alone. A sweep folder that a
    sweep is writing now is refused too."""
    from nnml.config.runfolder import RunFolder

    key, given = plan.folder_key, plan.folder
    target = Path(given)
    where = f"{key}={given}" if plan.folder_given else f"the output folder {target.absolute()}"
    if plan.folder_given and target.exists():
        if not target.is_dir():
            raise NnmlError(f"{where} is a file, not a folder; choose another folder with {key}=...")
        folder = RunFolder(target)
        if folder.is_locked():
            raise NnmlError(folder.locked_message())
        if plan.kind == "run" and (folder.is_run() or folder.metrics_file.is_file()):
            state = "a finished run" if folder.metrics() is not None else "a run"
            raise NnmlError(f"{where} holds {state}, which a new run would overwrite; continue it with "
                            f"nnml train resume={given} (more epochs: trainer.max_epochs=N), or choose a new folder")
    p = target.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
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


def compose_checked(overrides: list[str], command: str):
    """(config, group choices) of ``nnml train OVERRIDES`` after every check ``nnml train`` runs, for commands that
    build a run's parts without training it (``nnml lr-find``, ``nnml doctor OVERRIDES``): one run, no Hydra flags,
    no sweep, no resume."""
    flags, rest = split_hydra_flags(list(overrides))
    if flags:
        raise NnmlError(f"nnml {command} takes train overrides (key=value), not {' '.join(flags)}")
    plan = precheck_train(rest)
    if plan.kind != "run":
        raise NnmlError(f"nnml {command} runs on one new configuration; it takes neither a sweep nor resume=")
    from nnml.config.compose import Composer

    with Composer() as composer:
        cfg, choices, _ = compose_with_choices(composer, [*rest, *plan.extra])
    return cfg, choices
