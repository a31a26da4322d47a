"""The optimizer and the scheduler built before a run, on a stand-in parameter, so that a value torch refuses
(``optimizer.betas=[2,3]``, ``scheduler.step_size=0``) is one line naming the group and its values before any run
folder exists, not torch's own exception from inside the run. The scheduler is stepped a few times too: some
values fail only then (StepLR divides by its step size)."""

from __future__ import annotations

from nnml.errors import NnmlError


def _shown(node) -> str:
    return ", ".join(f"{k}={v}" for k, v in node.items() if not str(k).startswith("_") and not isinstance(v, dict))


def _refused(group: str, node, e: BaseException) -> NnmlError:
    while e.__cause__ is not None:  # Hydra's InstantiationException wraps the library's own error
        e = e.__cause__
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    return NnmlError(f"{group}: {node.get('_target_')} refused its values ({_shown(node)}): {first}; "
                     f"change the value it names ({group}.KEY=...)")


def _optimizer_nodes(node, path: str):
    """(path, node) of every optimizer in ``node`` (a GAN's has one per network)."""
    if not isinstance(node, dict):
        return
    if "_target_" in node:
        yield path, node
        return
    for k, v in node.items():
        yield from _optimizer_nodes(v, f"{path}.{k}")


def check_optimizer_and_scheduler(cfg, trust, mode: str = "min") -> None:
    """Build every optimizer of ``cfg`` on a stand-in parameter and the scheduler on the first, stepping both."""
    import warnings

    import torch
    from omegaconf import OmegaConf

    from nnml.run.build import build_optimizer, build_scheduler

    plain = OmegaConf.to_container(cfg, resolve=True)
    optimizers = []
    for path, node in _optimizer_nodes(plain.get("optimizer"), "optimizer"):
        if not node.get("_partial_"):
            continue  # built by its task with its own arguments
        stand_in = torch.nn.Linear(2, 1)
        try:
            optimizers.append(build_optimizer(OmegaConf.create(node), stand_in, trust))
        except NnmlError as e:
            if e.__cause__ is None or isinstance(e.__cause__, NnmlError):
                raise
            raise _refused(path, node, e.__cause__) from None
        except Exception as e:
            raise _refused(path, node, e) from None
    sched = plain.get("scheduler")
    if not optimizers or not isinstance(sched, dict) or "_target_" not in sched:
        return
    epochs = int(cfg.trainer.max_epochs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's "scheduler.step() before optimizer.step()" and the like
            scheduler, _ = build_scheduler(cfg.scheduler, optimizers[0], steps_per_epoch=2, max_epochs=epochs,
                                           trust=trust, monitor_mode=mode)
            for _ in range(min(3, epochs)):
                optimizers[0].step()
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(1.0)
                else:
                    scheduler.step()
    except NnmlError as e:
        cause = e.__cause__  # "could not build X: <torch's message>": say which values it refused
        if cause is None or isinstance(cause, NnmlError):
            raise
        raise _refused("scheduler", sched, cause) from None
    except Exception as e:
        raise _refused("scheduler", sched, e) from None
