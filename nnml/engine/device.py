"""Device, precision and thread settings, resolved once before anything is built."""

from __future__ import annotations

import contextlib
import math
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


# Work per training step (forward + backward FLOPs, estimated by step_flops) from which a second intra-op thread
# pays off on the CPU. Below it, the threads' start-up and hand-off per op cost more than they save, and with
# another process busy on the cores a second thread waits for a core at every op: the default MLP took 29.6 s of
# training with 2 threads against 0.78 s with 1 on a loaded 2-core machine. Measured with
# ``python scripts/bench.py --threads-study`` (docs/performance.md).
THREADS_MIN_FLOPS = 1e9


def configure_threads(num_threads) -> int:
    """Torch's intra-op threads before anything is built: explicit, ``OMP_NUM_THREADS``, or for ``auto`` one
    thread until :func:`choose_threads` has seen the model (small models are the common case)."""
    if num_threads in (None, "auto", 0):
        env = os.environ.get("OMP_NUM_THREADS")
        num_threads = int(env) if env and env.isdigit() else 1
    torch.set_num_threads(int(num_threads))
    return int(num_threads)


def choose_threads(num_threads, modules, batch, batch_size: int | None = None) -> tuple[int, str]:
    """``(threads, why)`` for ``trainer.num_threads``: explicit values and ``OMP_NUM_THREADS`` win; ``auto``
    uses the cores available to this job (a sweep's parallel jobs share them) only when the work per step is
    large and no other process keeps the cores busy, else 1. Sets torch's thread count."""
    if num_threads not in (None, "auto", 0):
        torch.set_num_threads(int(num_threads))
        return int(num_threads), "as set"
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit():
        torch.set_num_threads(int(env))
        return int(env), "OMP_NUM_THREADS"
    cores = max(1, usable_cores() // _parallel_jobs())
    flops = step_flops(modules, batch, batch_size)
    threads, why = auto_threads(flops, cores, _load())
    torch.set_num_threads(threads)
    return threads, why


def sample_batch(data, batch_size: int, device) -> tuple | None:
    """The first ``batch_size`` training inputs, on the device (for :func:`step_flops`), or None."""
    x = getattr(data, "x_train", None)
    if not torch.is_tensor(x) or not len(x):
        return None
    return (x[: max(1, int(batch_size))].to(device),)


def auto_threads(flops: float, cores: int, load: float | None) -> tuple[int, str]:
    """The rule of ``trainer.num_threads=auto``, given the estimated FLOPs per step, the cores this job may use
    and the 1-minute load average (this process counts about 1 in it)."""
    work = f"{_si(flops)}FLOP per step"
    if cores <= 1:
        return 1, f"auto: {work}, 1 core for this job"
    if flops < THREADS_MIN_FLOPS:
        return 1, f"auto: {work} is small work for more threads"
    if load is not None and load > cores - 0.5:
        return 1, f"auto: {work}, but the machine is busy (load {load:.1f} on {cores} cores)"
    return cores, f"auto: {work}"


def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} "


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def step_flops(modules, batch, batch_size: int | None = None) -> float:
    """FLOPs of one training step (3x the forward: backward costs about twice the forward), counted with hooks on
    the linear and convolution layers during one forward of the first module on the batch's input. When the
    batch's input is not a tensor the first module takes, 6 x parameters x batch size (the dense-layer count)."""
    from torch import nn

    mods = list(modules.values()) if isinstance(modules, dict) else list(modules)
    if not mods:
        return 0.0
    model = mods[0]
    x = batch[0] if isinstance(batch, (tuple, list)) and batch else None
    params = sum(p.numel() for m in mods for p in m.parameters())
    fallback = 6.0 * params * (batch_size or (len(x) if torch.is_tensor(x) else 1))
    if not torch.is_tensor(x):
        return fallback
    total = [0.0]

    def hook(m, inputs, out):
        if not torch.is_tensor(out):
            return
        if isinstance(m, nn.Linear):
            total[0] += 2.0 * out.numel() * m.in_features
        elif isinstance(m, nn.modules.conv._ConvNd):
            total[0] += 2.0 * out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    was = model.training
    try:
        with torch.no_grad():
            model.eval()
            model(x)
    except Exception:
        return fallback
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return 3.0 * total[0] if total[0] else fallback


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
