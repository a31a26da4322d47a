"""A layer-by-layer model summary, as Keras' ``model.summary()`` and Lightning's ModelSummary print it: each leaf
module in the order it runs, its output shape, its parameters and whether they train. Shown in a run's header and
by ``nnml summary``."""

from __future__ import annotations

import torch
from torch import nn


def layer_rows(model: nn.Module, x) -> list[dict]:
    """One row per leaf module that ran during ``model(x)`` (eval mode, no gradients), plus any leaf holding
    parameters that did not run (shape "-"); ``x`` is one batch of inputs."""
    rows: dict[int, dict] = {}
    order: list[int] = []
    names = {id(m): n for n, m in model.named_modules()}

    def hook(m, inputs, out):
        if id(m) in rows:
            return
        shape = tuple(out.shape) if torch.is_tensor(out) else (
            tuple(out[0].shape) if isinstance(out, (tuple, list)) and out and torch.is_tensor(out[0]) else "-")
        rows[id(m)] = _row(names.get(id(m), ""), m, shape)
        order.append(id(m))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was = model.training
    try:
        model.eval()
        # fork_rng: a model that samples in its forward (a VAE) must not shift the run's random stream, so a run
        # with a header and one without (nnml tune, quiet runs) train the same.
        devices = [x.device] if torch.is_tensor(x) and x.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            model(x)
    except Exception:
        pass  # a model that needs more than one input: its parameters are still listed
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    out = [rows[i] for i in order]
    seen = set(order)
    out += [_row(names.get(id(m), ""), m, "-") for m in leaves if id(m) not in seen and next(m.parameters(), None) is not None]
    return out


def _row(name: str, m: nn.Module, shape) -> dict:
    params = list(m.parameters(recurse=False))
    n = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return {"layer": name or type(m).__name__, "type": type(m).__name__,
            # per sample: the first dimension is the batch the summary ran on
            "output": ("x".join(str(d) for d in shape[1:]) or "1") if isinstance(shape, tuple) else shape,
            "params": n, "trainable": "yes" if n and trainable == n else ("no" if n and not trainable else
                                                                            ("part" if n else "-"))}


def totals(model: nn.Module) -> dict:
    n = sum(p.numel() for p in model.parameters())
    t = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"params": n, "trainable": t, "frozen": n - t}


def layer_table(rows: list[dict], model: nn.Module | None = None, title: str | None = None):
    from rich.table import Table

    table = Table(title=title, show_edge=False, pad_edge=False)
    for col, justify in (("layer", "left"), ("type", "left"), ("output per sample", "right"), ("params", "right"),
                         ("trainable", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    for r in rows:
        table.add_row(r["layer"], r["type"], str(r["output"]), f"{r['params']:,}", r["trainable"])
    if model is not None:
        t = totals(model)
        table.caption = f"{t['params']:,} parameters ({t['trainable']:,} trainable, {t['frozen']:,} frozen)"
    return table
