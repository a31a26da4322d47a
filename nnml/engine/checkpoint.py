"""Checkpoints: atomic writes, safe loads, and the RNG states that make a resume exact.

A write goes to a temp file in the same folder, is flushed and fsynced, then ``os.replace``d over the target, and
the folder is fsynced: a crash at any moment leaves the old or the new file, never a torn one. Temp files left by
a crash are named ``.*.tmp`` and are never read as checkpoints. Loads use ``torch.load(weights_only=True)``: a
checkpoint is data, and a pickle that wants to run code is refused.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from nnml.errors import NnmlError
from nnml.files import atomic_write


def atomic_save(obj, path: Path) -> None:
    try:
        atomic_write(path, lambda f: torch.save(obj, f))
    except OSError as e:
        raise NnmlError(f"could not write checkpoint {path}: {e.strerror or e}; free disk space or choose another "
                        f"output folder with hydra.run.dir=...", exit_code=1) from e


def load_weights_only(path: Path, mmap: bool = False):
    """``torch.load(path, weights_only=True)`` with its failures in one line: a pickle that would run code is
    refused, a torn or foreign file is called corrupt. Every file nnml loads weights from goes through here (a
    run's checkpoints, an accelerated variant's model.pt). ``mmap=True`` maps the tensors instead of reading them:
    the whole pickle is still vetted, so it is a cheap check of a file that is loaded in full later."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise NnmlError(f"checkpoint {path} holds objects other than tensors and plain data, which could run code "
                        f"when loaded; nnml refuses it ({str(e).splitlines()[0][:120]})") from None
    except Exception as e:  # a torn or foreign file: zip errors, EOF, bad magic
        raise NnmlError(f"checkpoint {path} is corrupt or not a checkpoint ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:120] if str(e) else ''})") from None


def load_checkpoint(path: Path, mmap: bool = False) -> dict:
    path = Path(path)
    if not path.is_file():
        raise NnmlError(f"checkpoint {path} does not exist")
    ckpt = load_weights_only(path, mmap)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise NnmlError(f"checkpoint {path} is not an nnml checkpoint (no model state)")
    return ckpt


def rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": _py_state_to_plain(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["key"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
    random.setstate(_plain_to_py_state(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _py_state_to_plain(st):
    version, internal, gauss = st
    return {"version": version, "internal": list(internal), "gauss": gauss}


def _plain_to_py_state(d):
    return (d["version"], tuple(d["internal"]), d["gauss"])


def load_model_weights(model: torch.nn.Module, ckpt: dict, path) -> None:
    """Load a checkpoint's model state, with a clear message when it comes from another model."""
    state = ckpt["model"]
    # DDP and torch.compile wrap the model and prefix its keys; checkpoints store the bare module's keys.
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = [ln.strip() for ln in str(e).splitlines() if ln.strip()][1:2]
        raise NnmlError(f"checkpoint {path} was saved from a different model than the configured one "
                        f"({first[0][:160] if first else 'keys or shapes differ'}); use the run's own config") from None
