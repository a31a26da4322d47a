"""Per-image segmentation records reproduce SegMetrics (tested against torchmetrics and scikit-learn in
test_hw2_seg_metrics.py) on any subset of images, duplicates included, with ignored pixels and absent classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnml import stats
from nnml.tasks.segmentation.metrics import SegMetrics
from nnml.tasks.segmentation.records import metrics_from_records, records_from_batch

K = 5  # class 4 never appears in the targets


def _case(seed, n=12, h=9, w=11, logits=False):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, K - 1, (n, h, w), generator=g)
    noise = torch.randint(0, K, (n, h, w), generator=g)
    keep = torch.rand(n, h, w, generator=g) < 0.7
    pred = torch.where(keep, target, noise)
    target = torch.where(torch.rand(n, h, w, generator=g) < 0.1, torch.tensor(255), target)
    if logits:  # the model's outputs: argmax equals pred
        out = torch.randn(n, K, h, w, generator=g)
        out.scatter_(1, pred[:, None], 10.0)
        return out, target
    return pred, target


def _seg_metrics(outputs, target, names):
    m = SegMetrics(K, names, ignore_index=255, per_class=True)
    for o, t in zip(outputs.split(5), target.split(5)):
        m.update(o, t)
    return m.compute()


@pytest.mark.parametrize("logits", [False, True])
def test_segmentation_records_reproduce_segmetrics(logits):
    outputs, target = _case(int(logits), logits=logits)
    names = ["bg", "a", "b", "c", "never"]
    rec = stats.concat_records([records_from_batch(o, t, K, 255, offset=i * 4)
                                for i, (o, t) in enumerate(zip(outputs.split(4), target.split(4)))])
    assert rec["confusion"].shape == (12, K, K) and np.array_equal(rec["index"], np.arange(12))
    assert rec["confusion"].sum() == int((target != 255).sum())
    rng = np.random.default_rng(0)
    for idx in (np.arange(12), rng.integers(0, 12, 12), np.array([3, 7])):
        ours = metrics_from_records(stats.take(rec, idx), names, per_class=True)
        want = _seg_metrics(outputs[idx], target[idx], names)
        assert set(ours) == set(want)
        for key, value in want.items():
            if np.isnan(value):
                assert np.isnan(ours[key]), key
            else:
                assert ours[key] == pytest.approx(value, abs=1e-12), key


def test_an_image_of_ignored_pixels_counts_nothing():
    target = torch.full((2, 4, 4), 255)
    target[1, :2] = 1
    pred = torch.ones(2, 4, 4, dtype=torch.long)
    rec = records_from_batch(pred, target, 3, 255)
    assert rec["confusion"][0].sum() == 0 and rec["confusion"][1, 1, 1] == 8
    only_ignored = metrics_from_records(stats.take(rec, [0]))
    assert np.isnan(only_ignored["miou"]) and np.isnan(only_ignored["pixel_acc"])
    assert metrics_from_records(rec)["miou"] == 1.0
