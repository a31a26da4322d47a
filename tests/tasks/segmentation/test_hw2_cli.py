"""task=segmentation through the real CLI: a tiny shapes_unet run writes its metrics, figures and best checkpoint
(monitor val/miou), its test metrics equal torchmetrics' and scikit-learn's on the restored model's predictions,
and nnml predict writes a mask and an overlay; bad combinations get one clear line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nnml.cli import app
from tests.conftest import assert_records_reproduce_metrics

TINY_SEG = ["experiment=shapes_unet", "dataset.n_images=48", "model.base_width=4", "model.depth=2",
            "task.figures_every_n_epochs=1", "task.figure_samples=2", "task.augment.rotate=10"]


@pytest.mark.slow
def test_train_metrics_equal_references_and_predict_writes_masks(train_in_process, workdir):
    result, run = train_in_process(*TINY_SEG)
    assert result.exit_code == 0, result.output
    m = json.loads((run / "metrics.json").read_text())
    assert m["monitor"] == "val/miou" and m["mode"] == "max" and m["directions"]["miou"] == "max"
    assert {"test/miou", "test/mdice", "test/pixel_acc", "test/iou/circle", "val/miou"} <= set(m)
    # Per-image confusion matrices recompute every metric, the per-class ones of the test split included.
    records = assert_records_reproduce_metrics(run)
    assert records["test"][0]["confusion"].shape == (len(records["test"][0]["index"]), 4, 4)
    assert "test/iou/circle" in m["intervals"] and "val/iou/circle" not in m["intervals"]
    figs = {p.name for p in (run / "figures").iterdir()}
    assert {"val_segmentation_epoch001.png", "val_segmentation_epoch002.png", "test_segmentation.png",
            "test_per_class_iou.png"} <= figs

    # The same predictions scored by the references give the numbers metrics.json holds.
    from sklearn.metrics import jaccard_score
    from torchmetrics.classification import MulticlassJaccardIndex
    from torchmetrics.segmentation import DiceScore

    from nnml.run.restore import restore_run

    restored = restore_run(run, "best")
    x, y = restored.data.split("test")
    with torch.no_grad():
        pred = restored.task.modules["model"](x).argmax(1)
    k = restored.data.num_outputs
    assert m["test/miou"] == pytest.approx(float(MulticlassJaccardIndex(k, average="macro")(pred, y)), abs=1e-5)
    present = np.union1d(np.unique(y), np.unique(pred))
    assert m["test/miou"] == pytest.approx(jaccard_score(y.ravel(), pred.ravel(), labels=present, average="macro"),
                                           abs=1e-6)
    dice = DiceScore(k, average="macro", input_format="index", aggregation_level="global")(pred, y)
    assert m["test/mdice"] == pytest.approx(float(dice), abs=1e-5)

    from PIL import Image

    from nnml.tasks.segmentation.shapes import make_shapes

    img, _ = make_shapes(7, 1, image_size=45)
    Image.fromarray((img[0].transpose(1, 2, 0) * 255).astype(np.uint8)).save(workdir / "pic.png")
    r = CliRunner().invoke(app, ["predict", str(run), "pic.png", "--out", "mask.png", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output.strip().splitlines()[-1])
    mask = np.asarray(Image.open(workdir / "mask.png"))
    assert mask.shape == (45, 45) and mask.max() < k and row["mask"] == "mask.png"
    assert Image.open(workdir / "mask_overlay.png").size == (45, 45)
    bad = CliRunner().invoke(app, ["predict", str(run), "missing.png"])
    assert bad.exit_code == 2 and "missing.png is not a readable image" in bad.output


@pytest.mark.parametrize("overrides, message", [
    (["task=segmentation", "dataset=iris"], "not task=segmentation; the tasks for dataset=iris: auto, "),
    (["task=segmentation", "dataset=iris"], "; datasets for task=segmentation: shapes"),
    (["experiment=shapes_unet", "loss=mse"], "does not fit task=segmentation"),
    (["experiment=shapes_unet", "+task.augment.shear=3"], "task.augment has an unknown key"),
])
def test_bad_combinations_get_one_line(train_in_process, overrides, message):
    result, _ = train_in_process(*overrides)
    assert result.exit_code == 2, result.output
    assert message in result.output
