"""``dataset=image_folder_masks``: a folder of images and a folder of PNG masks paired by file name.

This is the layout of Oxford-IIIT Pet (``images/*.jpg`` + ``annotations/trimaps/*.png``), Carvana and many course
data sets: ``root/images/abc.jpg`` goes with ``root/masks/abc.png``. A mask's pixel values are class ids, or raw
values that ``value_map`` turns into class ids (``{0: 0, 255: 1}`` for black/white masks); ``ignore_index`` marks
pixels that no loss or metric counts. Images are resized bilinearly and masks by nearest neighbour to
``image_size``.

``source=oxford_pets`` downloads the Oxford-IIIT Pet archives (Parkhi et al., CVPR 2012; CC BY-SA 4.0) into
``root/oxford_pets`` on first use, checks their MD5s and unpacks them; its trimaps (1 pet, 2 background,
3 border) become background 0, pet 1 and an ignored border.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from nnml.data.base import DataSplits
from nnml.data.download import _download, ensure_verified
from nnml.errors import NnmlError, bad_choice
from nnml.tasks.segmentation.splits import segmentation_splits

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

SOURCES = {
    "oxford_pets": {
        "mirrors": ["https://www.robots.ox.ac.uk/~vgg/data/pets/data/", "https://thor.robots.ox.ac.uk/~vgg/data/pets/"],
        "md5": {"images.tar.gz": "5c4f3ee8e5d25df40f4fd59a7f44e54c",
                "annotations.tar.gz": "95a8c909bbe2e81eed6a22bccdf3f68f"},
        "images": "images",
        "masks": "annotations/trimaps",
        "classes": ["background", "pet"],
        "value_map": {1: 1, 2: 0, 3: 255},
    },
}


def ensure_source(name: str, root: Path, download: bool = True) -> Path:
    """The folder holding the unpacked, verified archives of ``name``, downloading what is missing."""
    if name not in SOURCES:
        raise bad_choice("dataset.source", name, [*SOURCES, "null"])
    src = SOURCES[name]
    folder = Path(root).expanduser() / name
    fix = "delete it so that it is downloaded again" if download else "replace it with a good copy"
    for fname, want in src["md5"].items():
        done = folder / f".{fname}.unpacked"
        if done.exists():
            continue  # verified and unpacked before; the archive itself may have been deleted to save space
        ensure_verified(folder, {fname: want}, mirrors=src["mirrors"], what=f"dataset.source={name}",
                        download=download, put=f"the archives of {name} ({', '.join(src['md5'])})",
                        downloader=_download)
        path = folder / fname
        try:
            with tarfile.open(path) as tar:
                tar.extractall(folder, filter="data")  # "data": no absolute paths, links or files outside folder
        except (tarfile.TarError, OSError) as e:
            raise NnmlError(f"dataset.root: {path} could not be unpacked ({e}); {fix}")
        done.touch()
    return folder


def _pairs(image_dir: Path, mask_dir: Path, mask_suffix: str) -> list[tuple[Path, Path]]:
    for d, key in ((image_dir, "images"), (mask_dir, "masks")):
        if not d.is_dir():
            raise NnmlError(f"dataset.{key}: {d} is not a folder")
    # "._name" files are macOS resource forks that some archives (Oxford-IIIT Pet's) carry beside the real ones.
    images = {p.stem: p for p in sorted(image_dir.iterdir())
              if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")}
    masks = {p.stem: p for p in sorted(mask_dir.iterdir()) if p.name.endswith(mask_suffix) and not p.name.startswith(".")}
    stems = sorted(set(images) & set(masks))
    if not stems:
        raise NnmlError(f"dataset.masks: no file in {mask_dir} ending in {mask_suffix} has the name of an image in "
                        f"{image_dir} ({len(images)} images, {len(masks)} masks)")
    return [(images[s], masks[s]) for s in stems]


def _size(image_size) -> tuple[int, int]:
    h, w = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    if int(h) < 8 or int(w) < 8:
        raise NnmlError(f"dataset.image_size={image_size} is not valid; give one side or [height, width], each >= 8")
    return int(h), int(w)


def load_pairs(pairs, image_size, channels: int = 3) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Images (N, C, H, W) in [0, 1], raw masks (H, W) each, and how many unreadable pairs were skipped."""
    from PIL import Image, UnidentifiedImageError

    h, w = _size(image_size)
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise NnmlError(f"dataset.channels={channels} is not valid; choose one of: 1, 3")
    xs, ms, skipped = [], [], 0
    for ipath, mpath in pairs:
        try:
            with Image.open(ipath) as im:
                img = np.asarray(im.convert(mode).resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0
            with Image.open(mpath) as mk:
                # Palette ("P") and grey masks hold the values themselves; colour masks are reduced to grey.
                mk = mk if mk.mode in ("P", "L", "I", "I;16") else mk.convert("L")
                mask = np.asarray(mk.resize((w, h), Image.NEAREST))
        except (UnidentifiedImageError, OSError):
            skipped += 1  # a few files of public sets are corrupt or in another format than their name says
            continue
        xs.append(img[None] if img.ndim == 2 else img.transpose(2, 0, 1))
        ms.append(mask)
    if not xs:
        raise NnmlError(f"dataset: none of the {len(pairs)} image/mask pairs could be read")
    return np.stack(xs), ms, skipped


def map_values(masks: np.ndarray, value_map: dict | None, ignore_index: int) -> np.ndarray:
    """Raw mask values -> class ids; with a map, any value it does not name is an error."""
    if not value_map:
        return masks.astype(np.int64)
    lut = {int(k): int(v) for k, v in value_map.items()}
    present = set(np.unique(masks).tolist())
    unknown = sorted(present - set(lut))
    if unknown:
        raise NnmlError(f"dataset.value_map={lut} does not name the mask values {unknown[:10]}; add them "
                        f"(map to {ignore_index} to ignore them)")
    table = np.full(max(present) + 1, ignore_index, dtype=np.int64)
    for k, v in lut.items():
        if k < len(table):
            table[k] = v
    return table[masks]


def image_folder_masks(seed: int, root: str = "data", images: str = "images", masks: str = "masks",
                       mask_suffix: str = ".png", image_size=64, channels: int = 3, classes: list | None = None,
                       value_map: dict | None = None, ignore_index: int = 255, source: str | None = None,
                       download: bool = True, n_samples: int | None = None, val_fraction: float = 0.1,
                       test_fraction: float = 0.2) -> DataSplits:
    """Images + PNG masks from ``root/images`` and ``root/masks`` (or a downloadable ``source``)."""
    if source is not None:
        base = ensure_source(source, Path(root), download)
        src = SOURCES[source]
        images, masks = src["images"], src["masks"]
        classes = classes or src["classes"]
        value_map = value_map or src["value_map"]
    else:
        base = Path(root).expanduser()
    pairs = _pairs(base / images, base / masks, mask_suffix)
    if n_samples and n_samples < len(pairs):
        # A seeded subset for quick runs; chosen before reading, so a small run reads few files.
        keep = np.sort(np.random.default_rng(seed).choice(len(pairs), int(n_samples), replace=False))
        pairs = [pairs[i] for i in keep]
    x, raw, _ = load_pairs(pairs, image_size, channels)
    y = map_values(np.stack(raw), value_map, ignore_index)
    if classes is None:
        valid = y[y != ignore_index]
        classes = [str(i) for i in range(int(valid.max()) + 1 if valid.size else 1)]
    name = source or "image_folder_masks"
    return segmentation_splits(name, x, y, [str(c) for c in classes], seed=seed, val_fraction=val_fraction,
                               test_fraction=test_fraction, ignore_index=ignore_index)
