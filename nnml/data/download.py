"""Files a loader downloads on first use: fetched from the first mirror that answers into a temp file renamed when
complete, then verified by checksum, with one line for every way that can fail (missing with downloads off, no
mirror answering, a corrupt or foreign copy). MNIST, Oxford-IIIT Pet, AG News, Multi30k and CoNLL use it; tests
replace a loader's ``_download`` with one that copies the small files they write."""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from pathlib import Path
from typing import Callable

from nnml.errors import NnmlError
from nnml.files import atomic_write

NAMES = {"md5": "MD5", "sha256": "SHA-256"}


def file_digest(path: Path, algo: str = "md5") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(url: str, dest: Path) -> None:
    # Into a temp file in the same folder, then renamed: an interrupted download never looks complete.
    with urllib.request.urlopen(url, timeout=60) as resp:
        atomic_write(dest, lambda out: shutil.copyfileobj(resp, out), suffix=".part")


def fetch_from_mirrors(fname: str, path: Path, mirrors, what: str, download: Callable | None = None) -> None:
    """Download ``fname`` into ``path`` from the first mirror that answers; one line naming every failure.
    ``download`` is the caller's own downloader (tests replace it), ``_download`` by default."""
    errors = []
    for mirror in mirrors:
        try:
            (download or _download)(mirror + fname, path)
            return
        except OSError as e:
            errors.append(f"{mirror}: {e}")
    raise NnmlError(f"could not download {fname} for {what} ({'; '.join(errors)}); copy it into {path.parent} by hand")


def ensure_verified(folder: Path, files: dict, *, mirrors, what: str, download: bool, put: str,
                    algo: str = "md5", remote: dict | None = None, downloader: Callable | None = None,
                    skip: Callable[[Path], bool] | None = None) -> Path:
    """Every file of ``files`` (local name -> expected digest, or None where no digest is published) present in
    ``folder`` and verified, downloading what is missing when ``download``; ``remote`` maps a local name to the
    mirror's (CoNLL's ``eng.train``), ``put`` says what belongs in the folder (for the message when downloads are
    off) and ``skip(path)`` passes over a file already dealt with (an archive unpacked before)."""
    folder = Path(folder).expanduser()
    if download:  # without download a mistyped root must not leave an empty folder behind
        folder.mkdir(parents=True, exist_ok=True)
    fix = "delete it so that it is downloaded again" if download else "replace it with a good copy"
    for name, want in files.items():
        path = folder / name
        if skip is not None and skip(path):
            continue
        if not path.exists():
            if not download:
                raise NnmlError(f"dataset.root: {path} is missing and dataset.download=false; put {put} in "
                                f"{folder} or set dataset.download=true")
            fetch_from_mirrors((remote or {}).get(name, name), path, mirrors, what, downloader)
        if want is not None:
            got = file_digest(path, algo)
            if got != want:
                raise NnmlError(f"dataset.root: {path} has {NAMES.get(algo, algo)} {got}, expected {want}: the file "
                                f"is corrupt or incomplete; {fix}")
    return folder
