"""Atomic file writes: a temp file in the same folder, flushed and fsynced, then ``os.replace``d over the target
(and the folder fsynced), so a crash at any moment leaves the old file or the new one, never a torn one. Temp files
are named ``.<name>.*.tmp`` and are never read as results. Checkpoints, metrics.json, saved configs and downloads
all write through :func:`atomic_write`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path, write, binary: bool = True, suffix: str = ".tmp") -> None:
    """Call ``write(f)`` on a temp file beside ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; run files are for sharing
        os.replace(tmp, path)
    except OSError as e:  # name the file the user knows, not the temp file's descriptor
        raise OSError(e.errno, e.strerror, str(path)) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the file itself is already durable


def atomic_write_text(path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text), binary=False)


class Locked(Exception):
    """Another live process holds the lock; ``owner`` is what it wrote (pid, host, since)."""

    def __init__(self, path: Path, owner: dict):
        super().__init__(str(path))
        self.path, self.owner = path, owner


class FolderLock:
    """An exclusive lock on a folder through ``fcntl.flock`` on a lock file in it, holding the owner's pid, host and
    start time. The kernel releases a flock when its process dies, so a lock left by a killed process is free: the
    next taker takes it over without any staleness rule. Held until :meth:`release` or the process ends."""

    def __init__(self, path):
        self.path = Path(path)
        self._fd: int | None = None

    def owner(self) -> dict:
        import json

        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "FolderLock":
        import fcntl
        import json
        import socket
        import time

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Locked(self.path, self.owner()) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def is_held_elsewhere(self) -> bool:
        """True while another process holds the lock (checked without taking it for long)."""
        import fcntl

        if not self.path.is_file():
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the shared lock taken for the test
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
