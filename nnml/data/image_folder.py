"""``dataset=image_folder``: your own images, one folder per class (torchvision's ImageFolder layout), read with
Pillow.

Layouts of ``dataset.root``:

- ``root/<class>/*.png`` (also .jpg, .jpeg, .bmp, .webp; found in subfolders too, other files ignored): split
  into train/val/test by ``val_fraction``/``test_fraction``, stratified by class, seeded.
- ``root/train/<class>/``, ``root/val/<class>/``, ``root/test/<class>/``: the given splits are used as they are;
  a missing ``val`` or ``test`` is split off ``train`` (``val_fraction``/``test_fraction`` of its images). A
  class folder in val/ or test/ that train/ lacks is an error: the model could never predict it.

Every image is converted to ``channels`` (1: grey, 3: RGB) and resized (bilinear, stretched, no crop) to
``size`` (one side, or [height, width]; null: the first image's size, which every image must then have). Inputs
are standardized per channel with the train split's mean and standard deviation of the [0, 1] pixel values.

Memory: with ``dataset.loader=memory``, or ``auto`` when the float32 images take at most ``in_memory_mb``, every
image is decoded once into one uint8 tensor at build time (a bad file is found before training starts) and the
splits are plain tensors. Otherwise (``dataset.loader=dataloader``, or auto above the limit) the splits hold the
file lists (:class:`ImageFiles`) and DataLoader workers (``dataset.num_workers``) decode each batch; the
standardization statistics then come from a seeded sample of ``stats_images`` train images, and a bad file is
found when it is first read. Augmentations (``task.augment``) act on the device batches either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nnml.data.base import DataSplits, split_indices
from nnml.data.batches import IN_MEMORY_LIMIT_BYTES, LoaderBatches
from nnml.errors import NnmlError, bad_choice

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SPLITS = ("train", "val", "test")
MODES = {1: "L", 3: "RGB"}


# ---------------------------------------------------------------------------------------------- the folder

def _class_files(folder: Path) -> dict[str, list[Path]]:
    """class name -> its image files (sorted), for the class folders of ``folder``."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    out = {}
    for c in classes:
        files = sorted(p for p in c.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not p.name.startswith("."))
        if not files:
            raise NnmlError(f"{c}: the class folder '{c.name}' holds no images ({', '.join(IMAGE_SUFFIXES)}); add "
                            f"images or remove the folder")
        out[c.name] = files
    return out


def scan(root) -> dict[str, dict[str, list[Path]]]:
    """split -> class -> files: ``{"all": ...}`` for the class-folder layout, else the given splits."""
    if root is None or str(root).strip() == "":
        raise NnmlError("dataset.root is not set; give dataset.root=DIR (a folder with one subfolder per class)")
    base = Path(str(root)).expanduser()
    if not base.is_dir():
        raise NnmlError(f"dataset.root={root}: no such folder" if not base.exists() else
                        f"dataset.root={root} is a file; give the folder that holds one subfolder per class")
    given = {s: base / s for s in SPLITS if (base / s).is_dir()}
    if given:
        if "train" not in given:
            raise NnmlError(f"dataset.root={root} has {'/'.join(given)} but no train/ folder; give root/train/<class>/ "
                            f"too, or put the class folders directly in root")
        out = {s: _class_files(f) for s, f in given.items()}
        for s, classes in out.items():
            if not classes:
                raise NnmlError(f"{given[s]} has no class folders; put the images in {given[s]}/<class>/")
            for c in classes:
                if c not in out["train"]:
                    raise NnmlError(f"{given[s] / c}: class '{c}' has no folder in {given['train']}, so the model "
                                    f"could never learn it; train classes: {', '.join(out['train'])}")
        return out
    classes = _class_files(base)
    if not classes:
        raise NnmlError(f"dataset.root={root} has no class folders; put the images in {root}/<class>/ (one folder "
                        f"per class)")
    return {"all": classes}


def _size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        hw = [int(v) for v in ([size] if np.isscalar(size) else list(size))]
    except (TypeError, ValueError):
        hw = []
    hw = hw * 2 if len(hw) == 1 else hw
    if len(hw) != 2 or min(hw) < 1:
        raise NnmlError(f"dataset.size={size} is not valid; give one side, [height, width] (each >= 1) or null")
    return hw[0], hw[1]


def decode(path, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 (channels, height, width); an unreadable file is one line naming it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert(MODES[channels])
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            a = np.array(im, dtype=np.uint8)  # a writable copy (torch.from_numpy warns on read-only arrays)
    except Exception as e:  # Pillow raises UnidentifiedImageError, OSError (truncated), SyntaxError (broken PNG)...
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NnmlError(f"{path}: not a readable image ({why}); remove or replace the file") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


# ---------------------------------------------------------------------------------------------- per-file images

class ImageFiles:
    """The images of one split as a sequence: ``files[i]`` decodes, resizes and standardizes image i to a float32
    (C, H, W) tensor; a slice gives a stacked batch. What the lazy splits hold in place of tensors."""

    def __init__(self, paths: list[str], channels: int, size: tuple[int, int], mean, std, resize: bool = True):
        self.paths = [str(p) for p in paths]
        self.resize = bool(resize)
        self.channels, self.size = int(channels), (int(size[0]), int(size[1]))
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        if isinstance(i, slice):
            items = [self[j] for j in range(*i.indices(len(self)))]
            return torch.stack(items) if items else torch.zeros(0, self.channels, *self.size)
        a = _decode_sized(self.paths[i], self.channels, self.size if self.resize else None, self.size)
        return torch.from_numpy((a.astype(np.float32) / 255.0 - self.mean) / self.std)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), self.channels, *self.size)


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, images: ImageFiles, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


class _FileBatches(LoaderBatches):
    """LoaderBatches over decoded files; a bad file found by a worker is reported as the one line it raised
    (the DataLoader re-raises a worker's error with the worker's traceback in its message)."""

    def epoch(self, epoch: int, start_batch: int = 0, shard=(0, 1)):
        try:
            yield from super().epoch(epoch, start_batch, shard)
        except NnmlError as e:
            last = str(e).strip().splitlines()[-1]
            raise NnmlError(last.split("NnmlError: ", 1)[-1]) from None


@dataclass
class ImageFolderSplits(DataSplits):
    """DataSplits whose ``x_*`` are :class:`ImageFiles` (decoded per batch by DataLoader workers)."""

    def batches(self, split: str, builder):
        ds = builder.cfg.dataset
        train = split == "train" and not getattr(builder, "evaluating", False)
        bs = int(ds.batch_size) if train else int(ds.get("eval_batch_size") or max(int(ds.batch_size), 1024))
        x, y = self.split(split)
        return _FileBatches(batch_size=bs, shuffle=train, seed=builder.seed if train else 0, device=builder.device,
                            num_workers=int(ds.get("num_workers", 2)), pin_memory=bool(ds.get("pin_memory", True)),
                            dataset=_Pairs(x, y))


# ---------------------------------------------------------------------------------------------- the builder

def _split(found: dict, seed: int, val_fraction: float, test_fraction: float, root):
    """(files, labels, class names, {split: indices}) over all images found."""
    classes = list(found.get("train", found.get("all")))
    lookup = {c: i for i, c in enumerate(classes)}
    files, labels, origin = [], [], []
    for s, by_class in found.items():
        for c, fs in by_class.items():
            files += fs
            labels += [lookup[c]] * len(fs)
            origin += [s] * len(fs)
    y, origin = np.asarray(labels, dtype=np.int64), np.asarray(origin)
    pool = np.nonzero(origin == ("all" if "all" in found else "train"))[0]
    where = f"dataset.root={root}"
    val_given, test_given = "val" in found, "test" in found
    tr, va, te = split_indices(len(pool), y[pool], seed, 0.0 if val_given else val_fraction,
                               None if test_given else test_fraction, where, items="images",
                               names=classes)
    parts = {"train": pool[tr], "val": pool[va], "test": pool[te]}
    if val_given:
        parts["val"] = np.nonzero(origin == "val")[0]
    if test_given:
        parts["test"] = np.nonzero(origin == "test")[0]
    return files, y, classes, parts


def image_folder(seed: int, root: str | None = None, channels: int = 3, size=32, loader: str = "auto",
                 in_memory_mb: float = IN_MEMORY_LIMIT_BYTES / 2**20, stats_images: int = 512,
                 val_fraction: float = 0.1, test_fraction: float = 0.2) -> DataSplits:
    """Images in class folders -> standardized (N, C, H, W) splits (module docstring)."""
    if channels not in MODES:
        raise bad_choice("dataset.channels", channels, [str(c) for c in MODES])
    if loader not in ("auto", "memory", "dataloader"):
        raise bad_choice("dataset.loader", loader, ["auto", "dataloader", "memory"])
    resize = _size(size)
    found = scan(root)
    files, y, classes, parts = _split(found, seed, float(val_fraction), float(test_fraction), root)
    hw = resize or tuple(decode(files[parts["train"][0]], channels, None).shape[1:])
    nbytes = len(files) * channels * hw[0] * hw[1] * 4
    lazy = loader == "dataloader" or (loader == "auto" and nbytes > float(in_memory_mb) * 2**20)
    name = Path(str(root)).expanduser().resolve().name
    yt = torch.as_tensor(y)
    meta = {"in_channels": channels, "image": {"channels": channels, "size": list(hw), "classes": classes}}
    shape = (channels, *hw)
    if lazy:
        rng = np.random.default_rng(seed)
        train = parts["train"]
        sample = train if len(train) <= stats_images else np.sort(rng.choice(train, int(stats_images), replace=False))
        mean, std = _channel_stats(np.stack([_decode_sized(files[i], channels, resize, hw) for i in sample]))
        meta["image"].update(mean=mean, std=std, stats_from=int(len(sample)))
        xs = {s: ImageFiles([files[i] for i in ix], channels, hw, mean, std, resize is not None)
              for s, ix in parts.items()}
        ys = {s: yt[torch.as_tensor(ix, dtype=torch.long)] for s, ix in parts.items()}
        return ImageFolderSplits(name, "classification", xs["train"], ys["train"], xs["val"], ys["val"],
                                 xs["test"], ys["test"], shape, len(classes), classes, meta)
    u8 = torch.empty((len(files), *shape), dtype=torch.uint8)
    for i, f in enumerate(files):
        u8[i] = torch.from_numpy(_decode_sized(f, channels, resize, hw))
    mean, std = _channel_stats(u8[torch.as_tensor(parts["train"])].numpy())
    meta["image"].update(mean=mean, std=std, stats_from=int(len(parts["train"])))
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)

    def take(ix):
        ix = torch.as_tensor(ix, dtype=torch.long)
        return ((u8[ix].float() / 255.0 - m) / s).contiguous(), yt[ix].contiguous()

    (xtr, ytr), (xva, yva), (xte, yte) = take(parts["train"]), take(parts["val"]), take(parts["test"])
    return DataSplits(name, "classification", xtr, ytr, xva, yva, xte, yte, shape, len(classes), classes, meta)


def _decode_sized(path, channels: int, resize, hw: tuple[int, int]) -> np.ndarray:
    a = decode(path, channels, resize)
    if a.shape[1:] != tuple(hw):  # size=null: every image must have the first one's size
        raise NnmlError(f"{path}: {a.shape[2]}x{a.shape[1]} pixels, but the first image is {hw[1]}x{hw[0]}; set "
                        f"dataset.size to resize them all")
    return a


def _channel_stats(u8: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of [0, 1] pixels of (N, C, H, W) uint8 images, accumulated in float64."""
    c = u8.shape[1]
    flat = np.moveaxis(u8, 1, 0).reshape(c, -1)
    mean = [float(flat[k].mean(dtype=np.float64)) / 255.0 for k in range(c)]
    std = [float(flat[k].std(dtype=np.float64)) / 255.0 for k in range(c)]
    return mean, [v if v > 1e-8 else 1.0 for v in std]


def transform_images(paths, meta: dict) -> torch.Tensor:
    """New image files -> the model's input batch (N, C, H, W), converted, resized and standardized as in training
    (``meta["image"]`` of the run's data)."""
    im = meta["image"]
    files = ImageFiles(list(paths), im["channels"], im["size"], im["mean"], im["std"])
    return files[:]
