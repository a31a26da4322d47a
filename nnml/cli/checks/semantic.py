"""Checks of a composed config that need more than its own values: each component's keys against the signature of
the class or function it builds (as torchtune's ``validate`` does), and whether the loss, the monitored metric,
its mode and the model fit the dataset (known from :mod:`nnml.cli.checks.facts`, without building the data).

Run by ``nnml train``'s precheck before Hydra creates a run folder, so that these mistakes cost one line, exit
code 2 and nothing written. Nothing is trained: the model is built once on the CPU with the data's shapes, so
its own checks (an unknown activation, a CNN on tabular data) run as in the real build.
"""

from __future__ import annotations

import inspect

from nnml.cli.checks.facts import dataset_facts, direction
from nnml.errors import NnmlError, did_you_mean

# Keys nnml reads itself from a component's config and does not pass to its constructor.
CONSUMED = {"dataset": ("batch_size", "eval_batch_size", "loader", "num_workers", "pin_memory"),
            "scheduler": ("interval",)}


def check_config(cfg, loss_name: str = "", choices: dict | None = None, typed_loss: str | None = None,
                 trust=None, typed_groups=()) -> None:
    """All checks of this module, in the order a person would want to hear about them. ``trust``: which targets
    the config may name (a new run's own config by default); ``typed_groups``: the groups chosen on the command
    line (a misfit's suggestion changes the others)."""
    from nnml.config.targets import Trust

    trust = trust or Trust.own(cfg)
    check_trainer_keys(cfg)
    if choices:
        from nnml.cli.checks.fit import check_fit

        check_fit(cfg, choices, trust, typed_groups)
        check_task_fit(choices)
        check_loss_used(cfg, typed_loss, str(choices.get("task") or "auto"), trust)
    check_components(cfg, trust)
    from nnml.cli.checks.library import check_optimizer_and_scheduler

    check_optimizer_and_scheduler(cfg, trust)
    check_accumulation(cfg, trust)
    check_device(cfg)
    check_data_fit(cfg, loss_name, trust)


# Trainer keys read by nnml besides those of configs/trainer/default.yaml (added with +trainer.KEY=...).
EXTRA_TRAINER_KEYS = ("force_mode",)


def check_trainer_keys(cfg) -> None:
    """The trainer has no _target_ whose signature could be checked: its keys are those of the default trainer
    option (plus :data:`EXTRA_TRAINER_KEYS`); a key added with ``+`` that nothing reads (``+trainer.max_epochz=3``)
    would leave the setting it meant at its default without a word."""
    from nnml.config.catalog import option_keys

    node = cfg.get("trainer")
    known = [*option_keys("trainer", "default"), *EXTRA_TRAINER_KEYS]
    if node is None or not known:
        return
    for key in node:
        if str(key) not in known:
            raise NnmlError(f"trainer.{key}={_show(node.get(key))}: the trainer has no key '{key}'"
                            f"{did_you_mean(str(key), known)}; nothing would read it, so the setting you meant would "
                            f"stay at its default; the trainer's keys are: {', '.join(sorted(known))}")


def check_device(cfg) -> None:
    """trainer.device must exist here and trainer.precision must work on it (fp16 needs CUDA)."""
    from nnml.engine.device import autocast_context, resolve_device

    tr = cfg.trainer
    if int(tr.get("devices", 1) or 1) * int(tr.get("num_nodes", 1) or 1) > 1:
        return  # each rank resolves its own device
    autocast_context(resolve_device(str(tr.get("device", "auto"))), str(tr.get("precision", "32")))


def check_accumulation(cfg, trust) -> None:
    """trainer.accumulate_grad_batches > 1 needs a task whose optimizer the loop steps (not a GAN's own steps)."""
    k = int(cfg.trainer.get("accumulate_grad_batches", 1) or 1)
    node = cfg.get("task")
    if k == 1 or node is None or "_target_" not in node:
        return
    task_cls = _locate(str(node._target_), "task", trust)
    if not getattr(task_cls, "automatic_optimization", True):
        raise NnmlError(f"trainer.accumulate_grad_batches={k} needs a task whose optimizer the loop steps; "
                        f"{task_cls.__name__} steps its own optimizers: use trainer.accumulate_grad_batches=1")


# ---------------------------------------------------------------------------------------------- task fit

# Groups whose options made for one kind of learning say so in a `# tasks: vae, gan` line (nnml list shows it);
# under another task they would fail only once the run has started.
TASK_BOUND_GROUPS = ("model", "loss", "optimizer", "scheduler")


def check_task_fit(choices: dict) -> None:
    """A model, loss, optimizer or scheduler option made for other tasks than the run's (``model=vae_mlp`` under
    ``task=auto``) is refused, naming the task it is for and the options that fit this one. A task of the
    user's own (not shipped) is trusted to know its parts."""
    from nnml.cli.checks.fit import specializes
    from nnml.config import config_dir
    from nnml.config.catalog import option_tasks, options

    task = str(choices.get("task") or "auto")
    if task not in options("task", config_dir()):
        return
    for group in TASK_BOUND_GROUPS:
        option = choices.get(group)
        made_for = option_tasks(group, str(option)) if option is not None else None
        if made_for is None or task in made_for or any(specializes(t, task) for t in made_for):
            continue
        tagged = [o for o in options(group) if task in (option_tasks(group, o) or [])]
        untagged = [o for o in options(group) if option_tasks(group, o) is None]  # the supervised task's options
        fitting = sorted(untagged if task == "auto" else (tagged or untagged))
        raise NnmlError(f"{group}={option} is made for task={' or task='.join(made_for)}, but this run's task is "
                        f"{task}: add task={made_for[0]} (a preset sets the rest: nnml list experiment), or choose "
                        f"one that fits task={task}: {', '.join(fitting) or '(none)'}")


def check_loss_used(cfg, typed_loss: str | None, task: str, trust) -> None:
    """``loss=mse`` typed for a task that minimises its own objective (``experiment=digits_vae``) would be ignored
    without a word: refused instead."""
    if typed_loss in (None, "auto", "none"):
        return
    from nnml.config.targets import import_object

    try:
        cls = import_object(str(cfg.task._target_), trust)
    except Exception:
        return  # the import's own check (check_components) says why
    if getattr(cls, "uses_loss_config", True):
        return
    raise NnmlError(f"loss={typed_loss} is not used by task={task}, which minimises its own objective (the run's "
                    f"header names it; its keys are task.*): drop loss={typed_loss}")


# ---------------------------------------------------------------------------------------------- signatures


def check_components(cfg, trust) -> None:
    """Every node with a ``_target_`` (dataset, model, loss, optimizer, scheduler, loggers, nested ones): each of
    its keys must be a parameter of what it builds, unless that accepts ``**kwargs``."""
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg, resolve=False)
    for key, node in plain.items():
        if key != "hydra" and isinstance(node, dict):
            _visit(node, str(key), str(key), trust)


def _visit(node: dict, path: str, group: str, trust) -> None:
    if "_target_" in node:
        _check_node(node, path, group, trust)
    for k, v in node.items():
        if isinstance(v, dict) and not str(k).startswith("_"):
            _visit(v, f"{path}.{k}", group, trust)


def _locate(target: str, path: str, trust):
    from nnml.config.targets import import_failure, import_object

    try:
        return import_object(target, trust)
    except NnmlError:
        raise
    except Exception as e:  # ImportError, AttributeError, or what the module raised while importing
        raise import_failure(target, path, e) from None


def parameters(obj) -> list[str] | None:
    """Keyword parameters of a class or function; None when it takes ``**kwargs`` (anything goes)."""
    if inspect.isclass(obj):
        owner = next((c for c in obj.__mro__ if "__init__" in c.__dict__), object)
        if owner is object or (owner.__name__ == "Module" and owner.__module__.startswith("torch.nn")):
            return []  # no constructor of its own: nn.Module.__init__(*args, **kwargs) takes nothing it uses
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    names = []
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
            names.append(p.name)
    return names


def _check_node(node: dict, path: str, group: str, trust) -> None:
    """Every key of ``node`` that its target does not take, all at once (one line)."""
    target = str(node["_target_"])
    obj = _locate(target, path, trust)
    names = parameters(obj)
    if names is None:
        return
    consumed = CONSUMED.get(path, ()) if path == group else ()
    unknown = [(str(k), v) for k, v in node.items()
               if not str(k).startswith("_") and str(k) not in names and str(k) not in consumed]
    if not unknown:
        return
    valid = [n for n in names if n not in ("params", "optimizer", "input_shape", "num_outputs", "seed", "run_dir",
                                           "allow")] + list(consumed)
    if len(unknown) > 1:
        listed = ", ".join(f"'{k}'{did_you_mean(k, valid)}" for k, _ in unknown)
        raise NnmlError(f"{path}: {target} takes none of the arguments {listed}; its keys are: "
                        f"{', '.join(valid) or '(none)'}; drop them with "
                        f"{' '.join(f'~{path}.{k}' for k, _ in unknown)}")
    key, value = unknown[0]
    others = _options_with_key(group, key) if path == group else []
    # A key left over from the option whose _target_ was replaced is the common case: say how to drop it.
    hint = f"; drop it with ~{path}.{key}"
    if others:
        hint += f", or pick an option of {group} that takes {key}: {', '.join(others)} (e.g. {group}={others[0]})"
    raise NnmlError(f"{path}.{key}={_show(value)}: {target} takes no argument '{key}'"
                    f"{did_you_mean(key, valid)}; its keys are: {', '.join(valid) or '(none)'}{hint}")


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def _options_with_key(group: str, key: str) -> list[str]:
    """Options of ``group`` whose target takes ``key``, read from their YAML (``_target_`` line)."""
    import re

    from nnml.config.catalog import option_files
    from nnml.config.targets import Trust

    found = []
    for path in option_files(group).values():
        m = re.search(r"^_target_:\s*(\S+)", path.read_text(), re.M)
        if not m or not m.group(1).startswith(("torch.", "nnml.")):
            continue
        try:  # shipped options: registered parts
            names = parameters(_locate(m.group(1), group, Trust()))
        except NnmlError:
            continue
        if names is not None and key in names:
            found.append(path.stem)
    return found


# ---------------------------------------------------------------------------------------------- data fit


SUPERVISED = "nnml.tasks.supervised.task.SupervisedTask"


def check_data_fit(cfg, loss_name: str = "", trust=None) -> None:
    """Monitor and mode against the task's metrics (the task is built and shown the data's facts); for the
    supervised task also the loss and the model against the data. Skipped for datasets not in the table of facts
    and for tasks that cannot say their metrics before seeing real data (their run checks them)."""
    facts = dataset_facts(cfg.get("dataset"))
    if facts is None:
        return
    from omegaconf import OmegaConf

    from nnml.config.targets import Trust

    # A new run trusts the targets of its own config (nnml/config/targets.py); a resume's config was read back
    # from its folder under the trust rule before it got here.
    trust = trust or Trust.own(cfg)
    node = cfg.get("task")
    target = str(node.get("_target_")) if OmegaConf.is_dict(node) and "_target_" in node else SUPERVISED
    directions, default_monitor = _task_metrics(node, target, facts, trust)
    if directions is None:
        return
    tr = cfg.trainer
    monitor, mode = str(tr.get("monitor", "auto")), str(tr.get("mode", "auto"))
    if monitor == "auto":
        monitor = default_monitor
    else:
        from nnml.config.validate import check_monitor

        check_monitor(monitor, [f"{s}/{n}" for s in ("val", "train") for n in directions])
    known = directions.get(monitor.split("/", 1)[-1]) or direction(monitor)
    if mode in ("min", "max") and known and mode != known and not tr.get("force_mode", False):
        better = "higher" if known == "max" else "lower"
        raise NnmlError(f"trainer.mode={mode} contradicts trainer.monitor={monitor}, which is better when {better} "
                        f"(mode {known}): the worst epoch would be kept; drop trainer.mode (auto follows the "
                        f"metric), or add +trainer.force_mode=true if you mean it")
    if target != SUPERVISED:
        return  # other tasks build their own models and losses from the data
    _check_loss(cfg.get("loss"), facts["task"], facts["num_outputs"], loss_name, trust)
    model = cfg.get("model")
    if OmegaConf.is_dict(model) and "_target_" in model:
        _check_model(model, facts, trust)


def _task_metrics(node, target: str, facts: dict, trust) -> tuple[dict | None, str]:
    """(metric -> direction, default monitor) of the task, shown a stand-in of the data with its facts."""
    from types import SimpleNamespace

    from hydra.utils import instantiate

    try:
        if target == SUPERVISED:
            from nnml.tasks.supervised.task import SupervisedTask

            task = SupervisedTask()
        else:
            trust.check(node)
            task = instantiate(node)
        task.data = SimpleNamespace(name="", task=facts["task"], input_shape=tuple(facts["input_shape"]),
                                    num_outputs=int(facts["num_outputs"]), meta={})
        return dict(task.metric_directions()), str(task.default_monitor)
    except NnmlError:
        raise
    except Exception as e:
        if isinstance(e.__cause__, NnmlError):
            raise e.__cause__ from None
        return None, ""


def _check_loss(node, task: str, num_outputs: int, loss_name: str, trust) -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.is_dict(node) or "_target_" not in node:
        return
    from nnml.config.targets import instantiate
    from nnml.engine.losses import make_criterion

    loss = instantiate(node, key="loss", trust=trust)
    make_criterion(loss, task, num_outputs, loss_name)


def _check_model(node, facts: dict, trust) -> None:
    """Build the model on the CPU with the data's shapes, so that the model's own checks run; other failures are
    left to the run, which reports them with the real data. (PyTorch's meta device would allocate nothing, but
    its first convolution imports torch._refs and the meta kernels: 2-10 s, against milliseconds for building
    the shipped models for real.)"""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    trust.check(node)
    try:
        instantiate(node, input_shape=tuple(facts["input_shape"]), num_outputs=int(facts["num_outputs"]))
    except NnmlError:
        raise
    except InstantiationException as e:
        if isinstance(e.__cause__, NnmlError):
            raise e.__cause__ from None
    except Exception:
        pass
