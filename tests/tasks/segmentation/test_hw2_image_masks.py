"""dataset=image_folder_masks on small PNG/JPEG files the test writes, and the Oxford-IIIT Pet download path fed
from a file:// mirror with the archives' MD5s checked."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from nnml.data.idx import md5
from nnml.errors import NnmlError
from nnml.tasks.segmentation import image_masks


def _write_pairs(folder, n=12, size=(20, 16), mask_values=(0, 1, 2), seed=0, image_ext=".png"):
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir(parents=True)
    for i in range(n):
        mask = rng.choice(mask_values, size=size[::-1]).astype(np.uint8)
        img = (rng.uniform(0, 255, (*size[::-1], 3))).astype(np.uint8)
        Image.fromarray(img).save(folder / "images" / f"im{i:02d}{image_ext}")
        Image.fromarray(mask, mode="L").save(folder / "masks" / f"im{i:02d}.png")
    return folder


def test_pairs_by_name_resizes_and_keeps_mask_values(tmp_path):
    _write_pairs(tmp_path, size=(16, 16))
    (tmp_path / "images" / "lonely.png").write_bytes((tmp_path / "images" / "im00.png").read_bytes())  # no mask
    d = image_masks.image_folder_masks(seed=0, root=str(tmp_path), image_size=16, val_fraction=0.2, test_fraction=0.2)
    assert d.task == "segmentation" and d.input_shape == (3, 16, 16) and d.num_outputs == 3
    assert sum(d.sizes().values()) == 12
    # Same size: masks come through unchanged (nearest neighbour), in sorted-name order within each split.
    all_y = torch.cat([d.y_train, d.y_val, d.y_test])
    raw = np.stack([np.asarray(Image.open(tmp_path / "masks" / f"im{i:02d}.png")) for i in range(12)])
    assert sorted(map(tuple, all_y.reshape(12, -1).tolist())) == sorted(map(tuple, raw.reshape(12, -1).tolist()))
    d2 = image_masks.image_folder_masks(seed=0, root=str(tmp_path), image_size=[8, 12], val_fraction=0.2)
    assert d2.x_train.shape[1:] == (3, 8, 12) and set(d2.y_train.unique().tolist()) <= {0, 1, 2}


def test_value_map_and_ignore(tmp_path):
    _write_pairs(tmp_path, mask_values=(0, 128, 255), image_ext=".jpg")
    d = image_masks.image_folder_masks(seed=0, root=str(tmp_path), image_size=16, classes=["bg", "thing"],
                                       value_map={0: 0, 255: 1, 128: 255})
    assert d.class_names == ["bg", "thing"] and set(torch.cat([d.y_train, d.y_test]).unique().tolist()) == {0, 1, 255}
    with pytest.raises(NnmlError, match=r"value_map.*128"):
        image_masks.image_folder_masks(seed=0, root=str(tmp_path), value_map={0: 0, 255: 1})
    with pytest.raises(NnmlError, match="outside 0..1"):
        image_masks.image_folder_masks(seed=0, root=str(tmp_path), classes=["a", "b"])


def test_missing_folders_and_no_pairs(tmp_path):
    with pytest.raises(NnmlError, match="dataset.images"):
        image_masks.image_folder_masks(seed=0, root=str(tmp_path))
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(NnmlError, match="no file"):
        image_masks.image_folder_masks(seed=0, root=str(tmp_path))


def _fake_pets(folder, n=10):
    """The two Oxford-IIIT Pet archives in miniature: images/*.jpg, annotations/trimaps/*.png (1 pet, 2 bg,
    3 border) and the macOS '._' files the real archive carries."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)

    def add(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    def png(arr, mode=None, fmt="PNG"):
        buf = io.BytesIO()
        Image.fromarray(arr, mode=mode).save(buf, fmt)
        return buf.getvalue()

    with tarfile.open(folder / "images.tar.gz", "w:gz") as tar:
        for i in range(n):
            add(tar, f"images/Cat_{i}.jpg", png(rng.integers(0, 255, (12, 14, 3), dtype=np.uint8), fmt="JPEG"))
    with tarfile.open(folder / "annotations.tar.gz", "w:gz") as tar:
        for i in range(n):
            add(tar, f"annotations/trimaps/Cat_{i}.png", png(rng.choice([1, 2, 3], (12, 14)).astype(np.uint8), "L"))
            add(tar, f"annotations/trimaps/._Cat_{i}.png", b"not an image")
    return {f: md5(folder / f) for f in ("images.tar.gz", "annotations.tar.gz")}


def test_oxford_pets_download_checksum_unpack(tmp_path, monkeypatch):
    sums = _fake_pets(tmp_path / "mirror")
    src = image_masks.SOURCES["oxford_pets"]
    monkeypatch.setitem(src, "mirrors", ["file:///nonexistent/", (tmp_path / "mirror").as_uri() + "/"])
    monkeypatch.setitem(src, "md5", sums)
    root = tmp_path / "data"
    d = image_masks.image_folder_masks(seed=0, root=str(root), source="oxford_pets", image_size=16)
    assert d.name == "oxford_pets" and d.class_names == ["background", "pet"] and d.num_outputs == 2
    assert set(torch.cat([d.y_train, d.y_val, d.y_test]).unique().tolist()) == {0, 1, 255}
    assert sum(d.sizes().values()) == 10 and not list((root / "oxford_pets").glob("*.part"))
    # Unpacked once: a second load works without the archives.
    for f in sums:
        (root / "oxford_pets" / f).unlink()
    assert image_masks.image_folder_masks(seed=0, root=str(root), source="oxford_pets", download=False).num_outputs == 2


def test_oxford_pets_bad_checksum_and_no_download(tmp_path, monkeypatch):
    sums = _fake_pets(tmp_path / "data" / "oxford_pets")
    monkeypatch.setitem(image_masks.SOURCES["oxford_pets"], "md5", {**sums, "images.tar.gz": "0" * 32})
    with pytest.raises(NnmlError, match="MD5"):
        image_masks.image_folder_masks(seed=0, root=str(tmp_path / "data"), source="oxford_pets", download=False)
    with pytest.raises(NnmlError, match="dataset.download=false"):
        image_masks.image_folder_masks(seed=0, root=str(tmp_path / "empty"), source="oxford_pets", download=False)
    with pytest.raises(NnmlError, match="dataset.source=dogs"):
        image_masks.image_folder_masks(seed=0, root=str(tmp_path), source="dogs")
