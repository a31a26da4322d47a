"""Drawing from a trained generative model without touching the training RNG: noise from a private generator,
modules in eval mode for the draw and back to their mode afterwards."""

from __future__ import annotations

import contextlib

import torch


def private_generator(device, seed: int) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


@contextlib.contextmanager
def eval_mode(*modules):
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        with torch.inference_mode():
            yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def balanced_labels(n: int, num_classes: int, device) -> torch.Tensor:
    """0, 1, ..., K-1, 0, 1, ...: equal counts of every class (a grid of K columns shows one class a column)."""
    return torch.arange(n, device=device) % max(1, num_classes)
