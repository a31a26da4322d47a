"""Claiming the folder of a new run or sweep, after every check passed: created atomically (``-1``, ``-2`` when the
name is taken), locked for a sweep, and removed again when nothing of value was written into it. Shared by ``nnml
train`` and the Python API's ``nnml.train``."""

from __future__ import annotations

from pathlib import Path

# What a run folder holds before its training wrote anything of value.
_STARTUP_FILES = {".hydra", "error.txt", ".nnml.lock", "provenance.json"}


def hydra_str(path: Path) -> str:
    """A path as one quoted value of Hydra's override grammar."""
    text = str(path).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


class Claimed:
    """A run or sweep folder this command claimed: created (or found empty), locked for a sweep."""

    def __init__(self, path: Path, created: list[Path], lock=None):
        self.path, self.created_dirs, self.lock = path, created, lock

    @property
    def created(self) -> bool:
        return bool(self.created_dirs)

    def remove_if_unused(self) -> None:
        """Remove the folder (and the parents made for it) when nothing of value was written into it: a refusal
        found inside the job, or a stop before training began."""

        if not self.path.is_dir():
            return
        if any(p.name not in _STARTUP_FILES and p.suffix != ".log" for p in self.path.iterdir()):
            return
        self.remove()

    def remove(self) -> None:
        """Remove the folder and the parents made for it, whatever it holds (``keep_run=false``)."""
        import shutil

        self.release()
        shutil.rmtree(self.path, ignore_errors=True)
        for parent in self.created_dirs[1:]:
            try:
                parent.rmdir()
            except OSError:
                break

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def claim(p) -> Claimed:
    """Create the run or sweep folder of plan ``p``: a fresh name for the default folder (``-1``, ``-2`` when two
    commands start in the same second), the user's own folder as given (checked by the precheck: not a run, not
    locked). A sweep folder is locked for the whole sweep and gets its ``sweep.json``."""
    from nnml.config.resolvers import fresh_dir, missing_parents

    target = Path(p.folder)
    parents = missing_parents(target)
    if p.folder_given:
        created = [] if target.exists() else [target, *parents]
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            from nnml.errors import NnmlError

            raise NnmlError(f"{p.folder_key}={p.folder} cannot be created: {e.strerror.lower()}") from None
        path = target
    else:
        path = Path(fresh_dir(str(target)))
        created = [path, *parents]
    lock = None
    if p.kind == "sweep":
        from nnml.cli.sweeps import write_manifest
        from nnml.config.runfolder import RunFolder

        lock = RunFolder(path).lock()
        write_manifest(path, p, typed=getattr(p, "typed", None) or p.argv)
    return Claimed(path.absolute(), created, lock)
