"""How much of this job's CPUs other processes use, measured rather than guessed: the busy time the kernel
counts for those CPUs (``/proc/stat``, steal time included) minus this process's own CPU time, over a window.

``trainer.num_threads=auto`` reads it when it chooses the thread count and again at every epoch's end (a second
intra-op thread that has to wait for a core other processes hold makes every op slower: the default MLP ran 38x
slower with 2 threads than with 1 while another process kept a core busy). The 1-minute load average lags by a
minute and counts this process too, so it is only the fallback where ``/proc/stat`` does not exist.
A :class:`CpuWindow` is made where the measuring starts (a run's start, a governor's) and handed to whoever
reads it. Imports no torch.
"""

from __future__ import annotations

import os
import time


def _our_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _busy_seconds(cpus: set[int] | None) -> float | None:
    """Seconds the kernel has counted as busy on ``cpus`` since boot (user, nice, system, irq, softirq, steal)."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    busy = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        v = [int(x) for x in rest.split()]
        busy += v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / tick


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class CpuWindow:
    """A measuring window: from its start (or its last :meth:`mark`) to now, how many cores' worth of CPU time other
    processes used on this job's CPUs."""

    def __init__(self):
        self._mark: tuple[float, float, float] | None = None  # (monotonic s, busy s of our CPUs, own CPU s)
        self.mark()

    def mark(self) -> None:
        """Start a new window now."""
        busy = _busy_seconds(_our_cpus())
        self._mark = None if busy is None else (time.monotonic(), busy, _own_seconds())

    def age(self) -> float | None:
        return None if self._mark is None else time.monotonic() - self._mark[0]

    def others_cores(self, min_window: float = 0.25) -> float | None:
        """Cores' worth of CPU time other processes used on this job's CPUs since the window's start (waiting
        until the window is ``min_window`` seconds long), or None where the kernel does not say (then use the load
        average)."""
        if self._mark is None:
            return None
        age = time.monotonic() - self._mark[0]
        if age < min_window:
            time.sleep(min_window - age)
        t0, busy0, own0 = self._mark
        busy = _busy_seconds(_our_cpus())
        if busy is None:
            return None
        wall = time.monotonic() - t0
        return max(0.0, (busy - busy0 - (_own_seconds() - own0)) / wall)


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
