"""dataset=shapes: deterministic from the seed, masks that match what is drawn, and clear errors for bad keys."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.segmentation.shapes import SHAPES, make_shapes, shapes


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = shapes(seed=3, n_images=40), shapes(seed=3, n_images=40), shapes(seed=4, n_images=40)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    assert a.task == "segmentation" and a.input_shape == (3, 32, 32) and a.num_outputs == 4
    assert a.class_names == ["background", "circle", "rectangle", "triangle"]
    assert sum(a.sizes().values()) == 40 and a.y_train.dtype == torch.long
    assert a.meta["in_channels"] == 3 and len(a.meta["image_std"]) == 3
    # Standardized with the train split's statistics.
    assert a.x_train.mean(dim=(0, 2, 3)).abs().max() < 1e-4


def test_every_class_is_drawn_and_objects_overlap():
    x, y = make_shapes(0, 300, image_size=24, classes=list(SHAPES), objects=(3, 3), noise=0.0)
    assert x.shape == (300, 3, 24, 24) and 0 <= x.min() and x.max() <= 1
    share = np.bincount(y.ravel(), minlength=6) / y.size
    assert (share[1:] > 0.02).all(), share  # every shape class covers a fair share of pixels
    # Without noise a shape is one flat colour: pixels of one mask region in one image share one colour,
    # unless a later shape of the same class overlaps it; most regions are flat.
    flat = 0
    for i in range(50):
        for c in range(1, 6):
            sel = y[i] == c
            if sel.any():
                flat += int(np.ptp(x[i][:, sel], axis=1).max() < 1e-6)
    assert flat > 40


def test_no_objects_gives_background_only():
    _, y = make_shapes(1, 5, objects=0)
    assert (y == 0).all()


@pytest.mark.parametrize("kw, match", [({"classes": ["circle", "hexagon"]}, "dataset.classes=hexagon"),
                                      ({"objects": (3, 1)}, "dataset.objects"),
                                      ({"channels": 2}, "dataset.channels"),
                                      ({"size": (0.1, 0.9)}, "dataset.size")])
def test_bad_keys_are_named(kw, match):
    with pytest.raises(NnmlError, match=match):
        shapes(seed=0, n_images=10, **kw)
