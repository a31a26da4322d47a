"""Device, precision and thread settings, resolved once before anything is built."""

from __future__ import annotations

import contextlib
import os

import torch

from nnml.errors import NnmlError

PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; anything asked for explicitly must exist."""
    name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise NnmlError(f"trainer.device={name} is not valid; choose one of: auto, cpu, cuda, cuda:N, mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise NnmlError(f"trainer.device={name} but CUDA is not available on this machine; use trainer.device=cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise NnmlError(f"trainer.device={name} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise NnmlError(f"trainer.device={name} but MPS is not available on this machine; use trainer.device=cpu or auto")
    elif dev.type != "cpu":
        raise NnmlError(f"trainer.device={name} is not valid; choose one of: auto, cpu, cuda, cuda:N, mps")
    return dev


def autocast_context(device: torch.device, precision: str):
    """Mixed precision for the forward pass: bf16 on CUDA or CPU, fp16 on CUDA only."""
    precision = str(precision)
    if precision not in PRECISIONS:
        raise NnmlError(f"trainer.precision={precision} is not valid; choose one of: 32, bf16, 16")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext
    if dtype is torch.float16 and device.type != "cuda":
        raise NnmlError(f"trainer.precision=16 needs a CUDA device (device is {device}); use trainer.precision=bf16 or 32")
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def configure_threads(num_threads) -> int:
    """Torch's intra-op threads: explicit, else cores divided by the parallel jobs of a sweep.

    joblib workers set OMP_NUM_THREADS=1; forcing more threads into each parallel job made a sweep 4-10x slower.
    """
    if num_threads in (None, "auto", 0):
        env = os.environ.get("OMP_NUM_THREADS")
        num_threads = int(env) if env and env.isdigit() else max(1, usable_cores() // _parallel_jobs())
    torch.set_num_threads(int(num_threads))
    return int(num_threads)


def usable_cores() -> int:
    """Cores this process may run on: a SLURM or taskset CPU mask counts, not the whole machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _parallel_jobs() -> int:
    value = os.environ.get("NNML_PARALLEL_JOBS", "").strip()
    return max(1, int(value)) if value.isdigit() else 1


def setup_cuda_speedups(device: torch.device) -> None:
    if device.type == "cuda":
        # TF32 matmuls: ~free accuracy-wise for training, several times faster on Ampere and later.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def out_of_memory(device: torch.device, batch_size: int, eval_batch_size: int | None, precision: str) -> NnmlError:
    """The message for ``torch.OutOfMemoryError``: which batch size failed and what to try instead."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    tries = [f"dataset.batch_size={max(1, batch_size // 2)}"]
    if str(precision) == "32" and device.type == "cuda":
        tries.append("trainer.precision=bf16")
    tries += ["a smaller model (e.g. model.hidden=[128])", "dataset.eval_batch_size=256 if it failed while evaluating"]
    return NnmlError(f"out of memory on {device} with dataset.batch_size={batch_size} (evaluation batches of "
                     f"{eval_batch_size or max(batch_size, 1024)}); try {', '.join(tries)}; checkpoints already "
                     f"written are kept", exit_code=1)
