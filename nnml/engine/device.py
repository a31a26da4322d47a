"""Device, precision and thread settings, resolved once before anything is built."""

from __future__ import annotations

import contextlib
import math
import os

import torch

from nnml.engine import cpuload
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
# pays off on the CPU when the cores are free. Measured on an idle 2-core machine (docs/performance.md): the default
# MLP (65 MFLOP per step) trained 1.13x faster with 2 threads, the digits CNN (77 MFLOP) 1.25x, a CNN step of 19
# MFLOP 1.1x, an MLP step of 3.6 MFLOP not at all.
THREADS_MIN_FLOPS = 10e6


def configure_threads(num_threads) -> int:
    """Torch's intra-op threads before anything is built: explicit, ``OMP_NUM_THREADS``, or for ``auto`` one
    thread until :func:`choose_threads` has seen the model (small models are the common case)."""
    if num_threads in (None, "auto", 0):
        env = os.environ.get("OMP_NUM_THREADS")
        num_threads = int(env) if env and env.isdigit() else 1
    torch.set_num_threads(int(num_threads))
    return int(num_threads)


def is_auto(num_threads) -> bool:
    """``trainer.num_threads=auto`` and no ``OMP_NUM_THREADS`` to say otherwise."""
    env = os.environ.get("OMP_NUM_THREADS")
    return num_threads in (None, "auto", 0) and not (env and env.isdigit())


def choose_threads(num_threads, modules, batch, batch_size: int | None = None, *, window: cpuload.CpuWindow,
                   parallel_jobs: int = 1) -> tuple[int, str]:
    """``(threads, why)`` for ``trainer.num_threads``: explicit values and ``OMP_NUM_THREADS`` win; ``auto``
    gives the work of a step the cores of this job (``parallel_jobs`` of a sweep share them) that other processes
    leave free (measured over ``window``: :mod:`nnml.engine.cpuload`), or 1 thread for small work. Sets torch's
    thread count."""
    if num_threads not in (None, "auto", 0):
        torch.set_num_threads(int(num_threads))
        return int(num_threads), "as set"
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit():
        torch.set_num_threads(int(env))
        return int(env), "OMP_NUM_THREADS"
    cores, usable = job_cores(parallel_jobs)
    flops = step_flops(modules, batch, batch_size)
    others = window.others_cores() if cores > 1 and flops >= THREADS_MIN_FLOPS else None
    threads, why = auto_threads(flops, cores, others, cpuload.load_average(), usable)
    torch.set_num_threads(threads)
    return threads, why


def sample_batch(data, batch_size: int, device) -> tuple | None:
    """The first ``batch_size`` training inputs, on the device (for :func:`step_flops`), or None."""
    x = getattr(data, "x_train", None)
    if not torch.is_tensor(x) or not len(x):
        return None
    return (x[: max(1, int(batch_size))].to(device),)


def fit_threads(cores: int, others: float, usable: int | None = None) -> int:
    """Threads for a job entitled to ``cores`` of the ``usable`` CPUs when other processes (a sweep's sibling jobs
    included) use ``others`` cores' worth of them: what they leave free, rounded, at least 1."""
    usable = cores if usable is None else usable
    return max(1, min(cores, int(usable - others + 0.5)))


def auto_threads(flops: float, cores: int, others: float | None, load: float | None = None,
                 usable: int | None = None) -> tuple[int, str]:
    """The rule of ``trainer.num_threads=auto``, given the estimated FLOPs per step, the cores this job may use,
    the cores' worth of CPU other processes use (None where unknown: then the 1-minute load average decides, which
    counts this process too) and all the CPUs this process may run on."""
    work = f"{_si(flops)}FLOP per step"
    if cores <= 1:
        return 1, f"auto: {work}, 1 core for this job"
    if flops < THREADS_MIN_FLOPS:
        return 1, f"auto: {work} is small work for more threads"
    if others is None:
        if load is not None and load > cores - 0.5:
            return 1, f"auto: {work}, but the machine is busy (load {load:.1f} on {cores} cores)"
        return cores, f"auto: {work}"
    threads = fit_threads(cores, others, usable)
    if threads < cores:
        return threads, f"auto: {work}, but other processes use {others:.1f} of {usable or cores} cores"
    return cores, f"auto: {work}, {cores} cores free"


class ThreadGovernor:
    """``trainer.num_threads=auto`` during a run: at an epoch's end, fewer threads when other processes took cores
    while it ran (measured over at least a second, so over several short epochs). Never more threads again: a run
    does not chase a load that comes and goes, and every change alters the last bits of the arithmetic."""

    MIN_WINDOW_S = 1.0

    def __init__(self, cores: int, usable: int | None = None):
        self.cores, self.usable = cores, usable
        self.window = cpuload.CpuWindow()

    def after_epoch(self) -> str | None:
        """A line for the log when the thread count went down, else None."""
        threads = torch.get_num_threads()
        age = self.window.age()
        if threads <= 1 or age is None or age < self.MIN_WINDOW_S:
            return None
        others = self.window.others_cores(0.0)
        self.window.mark()
        if others is None:
            return None
        fit = min(threads, fit_threads(self.cores, others, self.usable))
        if fit >= threads:
            return None
        torch.set_num_threads(fit)
        return (f"threads {threads} -> {fit}: other processes now use {others:.1f} of {self.usable or self.cores} "
                f"cores (trainer.num_threads=auto; set a number to keep it fixed)")


def governor_for(num_threads, threads: int, parallel_jobs: int = 1) -> ThreadGovernor | None:
    """The governor of a run whose ``auto`` choice gave it more than one thread; None otherwise."""
    if threads <= 1 or not is_auto(num_threads):
        return None
    return ThreadGovernor(*job_cores(parallel_jobs))


def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} "


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
        if isinstance(m, nn.RNNBase):
            total[0] += _recurrent_flops(m, out[0] if isinstance(out, tuple) else out)
            return
        if not torch.is_tensor(out):
            return
        if isinstance(m, nn.Linear):
            total[0] += 2.0 * out.numel() * m.in_features
        elif isinstance(m, nn.modules.conv._ConvNd):
            total[0] += 2.0 * out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd, nn.RNNBase))]
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


def _recurrent_flops(m, output) -> float:
    """Forward FLOPs of a GRU/LSTM/RNN layer stack over the tokens of ``output`` (a tensor or a PackedSequence):
    per token, layer and direction, 2 x gates x hidden x (input + hidden)."""
    from torch import nn

    data = getattr(output, "data", output)
    if not torch.is_tensor(data):
        return 0.0
    tokens = data.shape[0] if hasattr(output, "batch_sizes") else math.prod(data.shape[:-1])
    gates = {"LSTM": 4, "GRU": 3}.get(m.mode, 1)
    dirs = 2 if m.bidirectional else 1
    per_token = sum(2.0 * gates * m.hidden_size * ((m.input_size if layer == 0 else m.hidden_size * dirs) + m.hidden_size)
                    for layer in range(m.num_layers)) * dirs
    return per_token * tokens if isinstance(m, nn.RNNBase) else 0.0


def usable_cores() -> int:
    """Cores this process may run on: a SLURM or taskset CPU mask counts, not the whole machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def job_cores(parallel_jobs: int = 1) -> tuple[int, int]:
    """(cores this job may use: its share when a sweep runs ``parallel_jobs`` side by side, all CPUs this process
    may run on)."""
    usable = usable_cores()
    return max(1, usable // max(1, int(parallel_jobs))), usable


def setup_cuda_speedups(device: torch.device, autotune: bool = True) -> None:
    """TF32 matmuls and convolutions, and cuDNN's autotuner (``autotune``: batches that keep one shape, no
    ``trainer.deterministic``).

    Length-bucketed text (every batch its own sequence length) must leave the autotuner off: it times every
    algorithm again for each new input shape, which made the langid preset (a 1-D CNN over characters) train at 105
    samples/s on an H200 instead of 13,520 (docs/performance.md, GPU)."""
    if device.type == "cuda":
        # TF32 matmuls: ~free accuracy-wise for training, several times faster on Ampere and later.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = bool(autotune)


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
