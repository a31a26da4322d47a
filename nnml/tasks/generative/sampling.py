"""Drawing from a trained generative model without touching the training RNG: noise from a private generator,
modules in eval mode for the draw and back to their mode afterwards. Also what an unconditional model's training
batches hold (the inputs alone)."""

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


def fixed_grid_inputs(seed: int, n: int, latent_dim: int, num_classes: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise and labels of a generative task's sample grids: drawn once from the run's seed (its own stream, not
    the training RNG), so every epoch's grid shows the same points of the latent space."""
    z = torch.randn(n, latent_dim, generator=private_generator("cpu", seed + 17)).to(device)
    return z, balanced_labels(n, num_classes, device)


def train_inputs_only(task, split: str, builder):
    """The training batches of an unconditional model, the inputs without their labels (a gather of the labels
    each step would be work for nothing), or None where the task's default batches apply: a conditional model,
    evaluation splits, a restored run and data that makes its own batches."""
    data = builder.data
    if split != "train" or task.conditional or builder.evaluating or hasattr(data, "batches"):
        return None
    return builder.tensor_batches(split, (data.split(split)[0],))


def require_labels(conditional: bool, data) -> None:
    """A conditional model needs a label per sample."""
    if conditional and data.y_train is None:
        from nnml.errors import NnmlError

        raise NnmlError(f"task.conditional=true needs labelled data; dataset {data.name} has no labels")


def sample_inputs(n: int, latent_dim: int, seed: int, device, *, conditional: bool, num_classes: int,
                  label: int | None = None, z: torch.Tensor | None = None, y: torch.Tensor | None = None):
    """The ``(z, y)`` a generator decodes for ``nnml sample``: ``n`` noise vectors from a private generator (or
    the given ``z``), and for a conditional model ``label`` for every row or balanced classes (or the given ``y``)."""
    from nnml.errors import NnmlError

    if z is None:
        z = torch.randn(n, latent_dim, generator=private_generator(device, seed), device=device)
    if conditional:
        if label is not None:
            if not 0 <= int(label) < num_classes:
                raise NnmlError(f"--label {label} is not valid; choose a class from 0 to {num_classes - 1}")
            y = torch.full((len(z),), int(label), device=device)
        elif y is None:
            y = balanced_labels(len(z), num_classes, device)
    elif label is not None:
        raise NnmlError("--label needs a conditional model (task.conditional=true); this run is unconditional")
    return z, y
