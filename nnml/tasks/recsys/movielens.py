"""MovieLens ratings (GroupLens, University of Minnesota): ``dataset=movielens_100k`` read from the copy inside
the installed ``recbole`` wheel, and ``dataset=movielens`` downloaded from GroupLens as the published zip files
(100K or 1M) and checked against their MD5.

Licence: GroupLens allows research and teaching use with acknowledgement and forbids redistribution. nnml
therefore never copies the data: the recbole copy is read in place (found through ``importlib.util.find_spec``
and the package loader's ``importlib.resources`` reader, which locate it without importing it: importing recbole
would pull its own heavy dependency pins), the zip is
read without extracting it, and nothing of the data is written into a run folder. Each build prints
:data:`ACKNOWLEDGEMENT` once.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np

from nnml.data.download import _download, ensure_verified
from nnml.errors import NnmlError, bad_choice
from nnml.tasks.recsys.datasets import InteractionData, from_table

ACKNOWLEDGEMENT = ("MovieLens data: F. Maxwell Harper and Joseph A. Konstan, \"The MovieLens Datasets: History "
                   "and Context\", ACM TiiS 5(4), 2015; GroupLens Research, University of Minnesota. Research and "
                   "teaching use only; not redistributed by nnml.")

ZIPS = {
    "100k": {"url": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
             "md5": "0e33842e24a9c977be4e0107933c0723", "file": "ml-100k.zip"},
    "1m": {"url": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
           "md5": "c4d9eecfca2ab87c1945afe126590906", "file": "ml-1m.zip"},
}

# u.item's 19 genre flags, in file order (ml-100k/u.genre)
GENRES_100K = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
               "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
               "War", "Western"]


def _acknowledge() -> str:
    import sys

    print(ACKNOWLEDGEMENT, file=sys.stderr, flush=True)  # stderr: JSON output on stdout stays clean
    return ACKNOWLEDGEMENT


def recbole_folder() -> Path:
    """The ``dataset_example/ml-100k`` folder of the installed recbole package, located without importing it:
    ``importlib.util.find_spec`` finds the package and its loader's ``importlib.resources`` reader gives its files
    (``importlib.resources.files("recbole")`` would import recbole, and with it its old dependency pins)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        raise NnmlError("dataset=movielens_100k reads MovieLens-100K from the recbole wheel, which is not installed; "
                        "pip install --no-deps recbole, or use dataset=movielens (downloads from GroupLens)")
    reader = spec.loader.get_resource_reader(spec.name) if hasattr(spec.loader, "get_resource_reader") else None
    root = Path(str(reader.files())) if reader is not None else Path(next(iter(spec.submodule_search_locations)))
    folder = root / "dataset_example" / "ml-100k"
    if not (folder / "ml-100k.inter").exists():
        raise NnmlError(f"{folder}/ml-100k.inter is missing from the installed recbole; reinstall it with "
                        f"pip install --no-deps --force-reinstall recbole")
    return folder


def read_atomic(folder: Path):
    """recbole's atomic files: ``.inter`` (user, item, rating, timestamp), ``.item`` (id, title, year, genres)."""
    table = np.loadtxt(folder / "ml-100k.inter", delimiter="\t", skiprows=1, dtype=np.int64)
    titles, genres = {}, {}
    with open(folder / "ml-100k.item", encoding="utf-8", errors="replace") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            iid = int(parts[0])
            year = parts[2] if len(parts) > 2 and parts[2] else ""
            titles[iid] = f"{parts[1]} ({year})" if year else parts[1]
            genres[iid] = "|".join(parts[3].split()) if len(parts) > 3 else ""
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3], titles, genres


def movielens_100k(seed: int, feedback: str = "implicit", threshold: float | None = None,
                   implicit_value: str = "binary", split: str = "random", val_fraction: float = 0.1,
                   test_fraction: float = 0.2) -> InteractionData:
    """MovieLens-100K (100,000 ratings 1-5, 943 users, 1,682 movies with titles and genres) from recbole's wheel."""
    ack = _acknowledge()
    users, items, ratings, times, titles, genres = read_atomic(recbole_folder())
    return from_table("movielens_100k", users, items, ratings, times, seed=seed, feedback=feedback,
                      threshold=threshold, implicit_value=implicit_value, split=split, val_fraction=val_fraction,
                      test_fraction=test_fraction, titles=titles, genres=genres, acknowledgement=ack)


# ---------------------------------------------------------------------- the published zip files
def ensure_zip(version: str, root: Path, download: bool = True) -> Path:
    """The verified zip of ``version`` under ``root``, downloaded when missing."""
    if version not in ZIPS:
        raise bad_choice("dataset.version", version, ZIPS)
    src = ZIPS[version]
    base, remote = src["url"].rsplit("/", 1)
    folder = ensure_verified(Path(root), {src["file"]: src["md5"]}, mirrors=[base + "/"], remote={src["file"]: remote},
                             what=f"dataset=movielens version={version}", download=download,
                             put=f"{src['file']} from {src['url']}", downloader=_download)
    return folder / src["file"]


def read_zip(path: Path, version: str):
    """(users, items, ratings, timestamps, titles, genres) straight from the zip (nothing extracted)."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise NnmlError(f"{path} is not a readable zip file ({e}); delete it so that it is downloaded again")
    with zf:
        names = set(zf.namelist())
        if version == "100k":
            need = ["ml-100k/u.data", "ml-100k/u.item"]
        else:
            need = ["ml-1m/ratings.dat", "ml-1m/movies.dat"]
        missing = [n for n in need if n not in names]
        if missing:
            raise NnmlError(f"{path} lacks {', '.join(missing)}: not the MovieLens-{version.upper()} zip")
        ratings_text = zf.read(need[0]).decode("latin-1")
        items_text = zf.read(need[1]).decode("latin-1")
    sep = "\t" if version == "100k" else "::"
    table = np.loadtxt(io.StringIO(ratings_text.replace(sep, "\t")), delimiter="\t", dtype=np.int64, ndmin=2)
    titles, genres = {}, {}
    for line in items_text.splitlines():
        if not line.strip():
            continue
        if version == "100k":  # id|title|release date|video date|url|19 genre flags
            parts = line.split("|")
            flags = parts[5:5 + len(GENRES_100K)]
            genres[int(parts[0])] = "|".join(g for g, f in zip(GENRES_100K, flags) if f == "1")
        else:  # id::title::genres
            parts = line.split("::")
            genres[int(parts[0])] = parts[2] if len(parts) > 2 else ""
        titles[int(parts[0])] = parts[1]
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3], titles, genres


def movielens(seed: int, version: str = "100k", root: str = "data", download: bool = True,
              feedback: str = "implicit", threshold: float | None = None, implicit_value: str = "binary",
              split: str = "random", val_fraction: float = 0.1, test_fraction: float = 0.2) -> InteractionData:
    """MovieLens-100K or -1M from GroupLens' published zip (downloaded once into ``root``, MD5-checked)."""
    ack = _acknowledge()
    path = ensure_zip(version, Path(root), download)
    users, items, ratings, times, titles, genres = read_zip(path, version)
    return from_table(f"movielens_{version}", users, items, ratings, times, seed=seed, feedback=feedback,
                      threshold=threshold, implicit_value=implicit_value, split=split, val_fraction=val_fraction,
                      test_fraction=test_fraction, titles=titles, genres=genres, acknowledgement=ack)
