"""MNIST and Fashion-MNIST: IDX files downloaded on first use into a data folder, verified by MD5.

The IDX format (LeCun et al.): a big-endian header of magic number (0x0000 08 NN, NN = number of dimensions) and
one uint32 size per dimension, then unsigned bytes. Files may be gzip-compressed (``.gz``), as published.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from nnml.data.base import DataSplits, split_and_standardize
from nnml.data.download import _download, ensure_verified, file_digest
from nnml.errors import NnmlError


def md5(path: Path) -> str:
    return file_digest(path, "md5")


FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

SOURCES = {
    "mnist": {
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/"],
        "md5": dict(zip(FILES, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                                "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"))),
        "classes": [str(i) for i in range(10)],
    },
    "fashion_mnist": {
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "md5": dict(zip(FILES, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                                "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"))),
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                    "Ankle boot"],
    },
}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array, checking the header against the file size."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise NnmlError(f"{path} is not a readable IDX file ({e}); delete it so that it is downloaded again")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise NnmlError(f"{path} is not an IDX file of unsigned bytes (bad magic number); delete it so that it is downloaded again")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise NnmlError(f"{path} holds {body.size} values but its header says {shape}; delete it so that it is downloaded again")
    return body.reshape(shape)


def ensure_files(name: str, root: Path, download: bool = True) -> Path:
    """The folder holding the four verified IDX files of ``name``, downloading what is missing."""
    src = SOURCES[name]
    return ensure_verified(Path(root) / name, src["md5"], mirrors=src["mirrors"], what=f"dataset={name}",
                           download=download, put=f"the four IDX files of {name}", downloader=_download)


def _load(name: str, seed: int, root: str, download: bool, val_fraction: float, n_samples: int | None,
          standardize: str = "global") -> DataSplits:
    folder = ensure_files(name, Path(root), download)
    xtr, ytr = read_idx(folder / FILES[0]), read_idx(folder / FILES[1])
    xte, yte = read_idx(folder / FILES[2]), read_idx(folder / FILES[3])
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise NnmlError(f"{folder}: image and label files disagree in length; delete them so that they are downloaded again")
    rng = np.random.default_rng(seed)
    if n_samples and n_samples < len(xtr):
        # A seeded subset of the training images, for quick runs; the official test set stays whole.
        keep = np.sort(rng.choice(len(xtr), n_samples, replace=False))
        xtr, ytr = xtr[keep], ytr[keep]
    x = np.concatenate([xtr, xte]).astype(np.float32) / 255.0
    y = np.concatenate([ytr, yte]).astype(np.int64)
    # The official test images stay the test split; val is carved out of the training images.
    data = split_and_standardize(
        name, x, y, "classification", seed=seed, val_fraction=val_fraction * len(xtr) / len(x),
        test_fraction=0.0, input_shape=(1, 28, 28), class_names=SOURCES[name]["classes"],
        standardize=standardize, fixed_test_rows=len(xte),
    )
    data.meta["raw_image"] = {"size": [28, 28], "max_value": 1.0}  # grey 0-255 read as 0-1, light on dark
    return data


def mnist(seed: int, root: str = "data", download: bool = True, val_fraction: float = 0.1, n_samples: int | None = None,
          standardize: str = "global") -> DataSplits:
    """MNIST handwritten digits, 28x28, 60k train (val taken from it) and the official 10k test."""
    return _load("mnist", seed, root, download, val_fraction, n_samples, standardize)


def fashion_mnist(seed: int, root: str = "data", download: bool = True, val_fraction: float = 0.1, n_samples: int | None = None,
                  standardize: str = "global") -> DataSplits:
    """Zalando's Fashion-MNIST, 28x28 clothing images in 10 classes, same layout as MNIST."""
    return _load("fashion_mnist", seed, root, download, val_fraction, n_samples, standardize)
