"""Every segmentation option (datasets, models, losses) composes with task=segmentation and builds: the models'
logits have one channel per class at the image's size, and every loss gives a finite scalar with gradients."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from nnml.config.targets import Trust
from nnml.run.build import build_data, build_model
from tests.conftest import compose
from tests.tasks.segmentation.test_hw2_image_masks import _write_pairs


@pytest.mark.parametrize("model", ["unet", "fcn"])
@pytest.mark.parametrize("loss", ["cross_entropy", "seg_cross_entropy", "dice", "focal", "ce_dice"])
def test_models_and_losses_build_on_shapes(model, loss):
    cfg = compose(["task=segmentation", "dataset=shapes", f"model={model}", f"loss={loss}", "dataset.n_images=20"])
    assert cfg.task._target_.endswith("SegmentationTask")
    data = build_data(cfg.dataset, seed=0, trust=Trust())
    net = build_model(cfg.model, data, Trust())
    out = net(data.x_train[:3])
    assert out.shape == (3, data.num_outputs, *data.input_shape[1:])
    value = instantiate(cfg.loss)(out, data.y_train[:3])
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()


def test_image_folder_masks_option_builds(tmp_path):
    _write_pairs(tmp_path)
    cfg = compose(["task=segmentation", "dataset=image_folder_masks", f"dataset.root={tmp_path}",
                   "dataset.image_size=16", "model=unet"])
    data = build_data(cfg.dataset, seed=0, trust=Trust())
    assert data.task == "segmentation" and data.input_shape == (3, 16, 16)
    assert build_model(cfg.model, data, Trust())(data.x_test).shape[1] == data.num_outputs
