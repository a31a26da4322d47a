"""SegMetrics against torchmetrics (MulticlassJaccardIndex, MeanIoU, DiceScore) and scikit-learn's jaccard_score
on the same predictions, including an absent class and ignored pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnml.tasks.segmentation.metrics import SegMetrics

K = 5  # class 4 never appears: absent from targets and predictions


def _case(seed=0, n=6, h=12, w=10, ignore=True):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, K - 1, (n, h, w), generator=g)
    # Predictions agree with the target most of the time, so IoUs are far from 0 and from each other.
    noise = torch.randint(0, K - 1, (n, h, w), generator=g)
    keep = torch.rand(n, h, w, generator=g) < torch.tensor([0.9, 0.7, 0.5, 0.3])[target]
    pred = torch.where(keep, target, noise)
    if ignore:
        target = torch.where(torch.rand(n, h, w, generator=g) < 0.1, torch.tensor(255), target)
    return pred, target


def _ours(pred, target, batches=3):
    m = SegMetrics(K, ignore_index=255)
    for p, t in zip(pred.chunk(batches), target.chunk(batches)):
        m.update(p, t)
    return m.compute(), m.per_class()


def test_global_iou_equals_multiclass_jaccard_and_sklearn():
    from sklearn.metrics import jaccard_score
    from torchmetrics.classification import MulticlassJaccardIndex

    pred, target = _case()
    out, pc = _ours(pred, target)
    tm_macro = MulticlassJaccardIndex(K, average="macro", ignore_index=255)(pred, target)
    tm_none = MulticlassJaccardIndex(K, average="none", ignore_index=255)(pred, target)
    assert out["miou"] == pytest.approx(float(tm_macro), abs=1e-6)
    present = ~np.isnan(pc["iou"])
    assert present.tolist() == [True] * 4 + [False]
    np.testing.assert_allclose(pc["iou"][present], tm_none.numpy()[present], atol=1e-6)
    assert float(tm_none[4]) == 0.0  # torchmetrics' zero_division for the absent class; ours is NaN
    keep = target != 255
    t, p = target[keep].numpy(), pred[keep].numpy()
    np.testing.assert_allclose(pc["iou"][present], jaccard_score(t, p, average=None, labels=[0, 1, 2, 3]), atol=1e-9)
    assert out["miou"] == pytest.approx(jaccard_score(t, p, average="macro"), abs=1e-9)
    assert out["pixel_acc"] == pytest.approx(float((t == p).mean()), abs=1e-12)


def test_equals_segmentation_meaniou_and_dicescore_on_the_whole_split():
    from torchmetrics.segmentation import DiceScore, MeanIoU

    pred, target = _case(seed=1, ignore=False)
    out, pc = _ours(pred, target)
    # MeanIoU averages per image; the whole split as one image is the dataset-level IoU nnml reports.
    one_p, one_t = pred.reshape(1, -1), target.reshape(1, -1)
    per_class = MeanIoU(num_classes=K, per_class=True, input_format="index")(one_p, one_t)
    assert float(per_class[4]) == -1.0  # the absent class, as MeanIoU documents
    np.testing.assert_allclose(pc["iou"][:4], per_class[:4].numpy(), atol=1e-6)
    miou = MeanIoU(num_classes=K, input_format="index")(one_p, one_t)
    assert out["miou"] == pytest.approx(float(miou), abs=1e-6)
    dice = DiceScore(num_classes=K, average="macro", input_format="index", aggregation_level="global")(pred, target)
    assert out["mdice"] == pytest.approx(float(dice), abs=1e-6)
    dice_none = DiceScore(num_classes=K, average="none", input_format="index", aggregation_level="global")(pred, target)
    np.testing.assert_allclose(pc["dice"][:4], dice_none.reshape(-1)[:4].numpy(), atol=1e-6)
    assert np.isnan(pc["dice"][4]) and out["iou/4"] != out["iou/4"]


def test_logits_are_argmaxed_and_loss_is_averaged_over_samples():
    pred, target = _case(seed=2, ignore=False)
    logits = torch.nn.functional.one_hot(pred, K).movedim(-1, 1).float() * 3
    m = SegMetrics(K, class_names=list("abcde"))
    m.update(logits[:2], target[:2], torch.tensor(1.0))
    m.update(logits[2:], target[2:], torch.tensor(4.0))
    out = m.compute()
    assert out["loss"] == pytest.approx((2 * 1 + 4 * 4) / 6)
    assert out["miou"] == pytest.approx(_ours(pred, target)[0]["miou"])
    assert {"iou/a", "dice/e", "pixel_acc", "mdice"} <= set(out)
    m.reset()
    assert int(m.confusion.sum()) == 0
