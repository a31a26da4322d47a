"""dataset=image_folder: class folders of image files read with Pillow. Oracles: the pixels scikit-learn's digits
were written with, the per-channel statistics numpy computes on the train images, and the in-memory splits that
the lazy (DataLoader) splits must equal batch for batch."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from nnml.data.image_folder import ImageFolderSplits, image_folder, transform_images
from nnml.errors import NnmlError
from tests.data.files import digit_pngs, invoke, runs, shape_pngs


def test_digits_pngs_become_standardized_images(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    root = digit_pngs(tmp_path / "digits", side=16, limit=300)
    d = image_folder(0, root=str(root), channels=1, size=16)
    assert d.input_shape == (1, 16, 16) and d.class_names == [str(i) for i in range(10)] and d.num_outputs == 10
    assert sum(d.sizes().values()) == 300 and d.sizes()["test"] == 60 and d.sizes()["val"] == 30
    # undo the standardization: the PNG pixels (NEAREST 2x of the 8x8 digits) come back exactly
    m, s = d.meta["image"]["mean"][0], d.meta["image"]["std"][0]
    pixels = torch.round((d.x_test * s + m) * 255).to(torch.uint8).numpy()
    by_name = {}
    digits = load_digits()
    for i in range(300):
        a = np.round(digits.images[i] / 16.0 * 255).astype(np.uint8)
        by_name[i] = np.asarray(Image.fromarray(a, "L").resize((16, 16), Image.NEAREST))
    found = [any(np.array_equal(p[0], ref) for ref in by_name.values()) for p in pixels[:10]]
    assert all(found)
    # the statistics are the train images' own
    train_pixels = torch.round((d.x_train * s + m) * 255).double() / 255
    assert float(train_pixels.mean()) == pytest.approx(m, abs=1e-6)
    assert float(train_pixels.std(unbiased=False)) == pytest.approx(s, abs=1e-6)


def test_given_splits_are_kept_and_missing_ones_split_off(tmp_path):
    shape_pngs(tmp_path / "a" / "train", per_class=10)
    shape_pngs(tmp_path / "a" / "test", per_class=3, seed=1)
    d = image_folder(0, root=str(tmp_path / "a"), size=12, val_fraction=0.2)
    assert d.sizes() == {"train": 16, "val": 4, "test": 6}
    assert d.class_names == ["left", "right"] and d.input_shape == (3, 12, 12)
    # RGB statistics: one mean per channel, from the train images only
    assert len(d.meta["image"]["mean"]) == 3 and d.meta["image"]["stats_from"] == 16
    shape_pngs(tmp_path / "a" / "val", per_class=2, seed=2)
    d = image_folder(0, root=str(tmp_path / "a"), size=[12, 6])
    assert d.sizes() == {"train": 20, "val": 4, "test": 6} and d.input_shape == (3, 12, 6)


def test_lazy_splits_give_the_in_memory_batches(tmp_path):
    root = shape_pngs(tmp_path / "s", per_class=12)
    mem = image_folder(0, root=str(root), size=12, loader="memory")
    lazy = image_folder(0, root=str(root), size=12, loader="dataloader", stats_images=10_000)
    assert isinstance(lazy, ImageFolderSplits) and not torch.is_tensor(lazy.x_train)
    assert lazy.sizes() == mem.sizes() and lazy.meta == mem.meta
    torch.testing.assert_close(lazy.x_test[:], mem.x_test, rtol=0, atol=1e-6)
    auto = image_folder(0, root=str(root), size=12, in_memory_mb=0.001)  # auto above the limit: lazy
    assert isinstance(auto, ImageFolderSplits)

    from omegaconf import OmegaConf

    class B:  # what a task's batches() gets: the config, the seed, the device
        cfg = OmegaConf.create({"dataset": {"batch_size": 5, "num_workers": 0}})
        seed, device, evaluating = 3, torch.device("cpu"), False

    from nnml.data.batches import make_batches

    got = list(lazy.batches("train", B()).epoch(1))
    want = list(make_batches(mem.split("train"), batch_size=5, shuffle=True, seed=3, device="cpu").epoch(1))
    assert len(got) == len(want)
    for (xa, ya), (xb, yb) in zip(got, want):
        assert torch.equal(ya, yb)
        torch.testing.assert_close(xa, xb, rtol=0, atol=1e-6)
    new = transform_images([p for p in sorted((root / "left").iterdir())][:2], mem.meta)
    assert new.shape == (2, 3, 12, 12)


def test_bad_images_are_named(tmp_path):
    root = shape_pngs(tmp_path / "s", per_class=10)
    png = (root / "left" / "left_00.png").read_bytes()
    (root / "left" / "left_00.png").write_bytes(png[: len(png) // 2])
    with pytest.raises(NnmlError, match=r"left_00.png: not a readable image \(image file is truncated\)"):
        image_folder(0, root=str(root), size=12)
    # lazily read, the file is found when its batch is decoded: by a DataLoader worker, still one line
    lazy = image_folder(0, root=str(root), size=12, loader="dataloader", stats_images=2)
    split = next(s for s in ("train", "val", "test") if any("left_00" in p for p in lazy.split(s)[0].paths))
    from omegaconf import OmegaConf

    class B:
        cfg = OmegaConf.create({"dataset": {"batch_size": 4, "num_workers": 1}})
        seed, device, evaluating = 0, torch.device("cpu"), False

    with pytest.raises(NnmlError) as e:
        list(lazy.batches(split, B()).epoch(0))
    assert str(e.value).endswith("left_00.png: not a readable image (image file is truncated); remove or replace "
                                 "the file") and "\n" not in str(e.value)


@pytest.mark.slow
def test_digit_pngs_reach_090_with_a_cnn_and_augmentation(tmp_path):
    """1797 digits as 16x16 PNGs; model=cnn, 10 epochs: measured 0.967 test accuracy in memory, 0.969 through
    DataLoader workers (loader=dataloader, statistics from 512 train images) on the default seed."""
    digit_pngs(tmp_path / "digits", side=16)
    args = ["train", "trainer.device=cpu", "trainer.num_threads=1", "logger=none", "trainer.max_epochs=10",
            "dataset=image_folder", "dataset.root=digits", "dataset.channels=1", "dataset.size=16", "model=cnn"]
    code, out, err, crash = invoke(args, tmp_path)
    assert code == 0 and crash is None, err[-3000:]
    acc = json.loads((runs(tmp_path)[-1] / "metrics.json").read_text())["test/acc"]
    assert acc >= 0.9, acc
    shutil.rmtree(tmp_path / "outputs")
    # random translation of the (1, 16, 16) images by the existing task.augment, decoded by two workers
    code, out, err, crash = invoke([*args, "dataset.loader=dataloader", "trainer.max_epochs=3",
                                    "task.augment=[{_target_: nnml.augment.image.RandomTranslate, max_shift: 1}]"],
                                   tmp_path)
    assert code == 0 and crash is None, err[-3000:]
    assert json.loads((runs(tmp_path)[-1] / "metrics.json").read_text())["test/acc"] >= 0.8
