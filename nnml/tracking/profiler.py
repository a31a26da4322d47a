"""``debug=profile``: torch.profiler over a few training steps of a run.

The profiler follows torch's schedule: ``wait`` steps skipped (start-up), ``warmup`` steps profiled but thrown away
(the profiler's own start-up), ``active`` steps recorded. When they are done it writes the trace into
``RUN/profile/`` as ``*.pt.trace.json`` (torch's TensorBoard trace handler: the TensorBoard profiler plugin,
``torch-tb-profiler``, shows it under ``nnml board RUN``; https://ui.perfetto.dev and chrome://tracing open the file
directly), prints the operators that took the most time as a table and keeps that table in
``RUN/profile/top_operators.txt``. A run shorter than the schedule is traced over the steps it had.

It sees every training step through :meth:`~nnml.engine.callbacks.Callback.on_train_step` (``wants_steps``), so no
logging step has to run every step: the trace shows training as it runs without the profiler.
"""

from __future__ import annotations

import logging
from pathlib import Path

from nnml.engine.callbacks import Callback

log = logging.getLogger("nnml")


class ProfilerCallback(Callback):
    wants_steps = True

    def __init__(self, run_dir: str | Path, wait: int = 2, warmup: int = 2, active: int = 6, top: int = 15,
                 record_shapes: bool = False, console=None):
        for key, value, low in (("wait", wait, 0), ("warmup", warmup, 0), ("active", active, 1), ("top", top, 1)):
            if int(value) < low:
                from nnml.errors import NnmlError

                raise NnmlError(f"logger.profiler.{key}={value} is not valid; it must be an integer >= {low}")
        self.folder = Path(run_dir) / "profile"
        self.wait, self.warmup, self.active, self.top = int(wait), int(warmup), int(active), int(top)
        self.record_shapes = bool(record_shapes)
        self.console = console
        self.prof = None
        self.done = False
        self.trace: Path | None = None
        self.table = ""

    def on_fit_start(self, state) -> None:
        import torch
        from torch.profiler import ProfilerActivity, profile, schedule

        device = str(state.info.get("device", "cpu"))
        activities = [ProfilerActivity.CPU]
        if device.startswith("cuda") and torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
        self.cuda = len(activities) > 1
        self.prof = profile(activities=activities, record_shapes=self.record_shapes,
                            schedule=schedule(wait=self.wait, warmup=self.warmup, active=self.active, repeat=1),
                            on_trace_ready=self._ready)
        self.prof.start()

    def on_train_step(self, state) -> None:
        if self.prof is not None:
            self.prof.step()
            if self.done:  # the schedule is over: the rest of the run goes unprofiled
                self._stop()

    def _stop(self) -> None:
        prof, self.prof = self.prof, None
        prof.stop()  # a run shorter than the schedule: the steps so far are written now

    def _ready(self, prof) -> None:
        from torch.profiler import tensorboard_trace_handler

        self.done = True
        self.folder.mkdir(parents=True, exist_ok=True)
        before = set(self.folder.glob("*.pt.trace.json"))
        tensorboard_trace_handler(str(self.folder))(prof)
        new = sorted(set(self.folder.glob("*.pt.trace.json")) - before)
        self.trace = new[-1] if new else None
        self.table = top_operators(prof.key_averages(), self.top, self.cuda)
        (self.folder / "top_operators.txt").write_text(self.table + "\n")
        self._print()

    def _print(self) -> None:
        from rich.console import Console

        from nnml.tracking.console import make_console, short_path

        console: Console = self.console or make_console()
        where = short_path(self.trace) if self.trace else short_path(self.folder)
        lines = [f"profile of {self.active} training steps (after {self.wait} skipped, {self.warmup} warm-up):",
                 self.table,
                 f"trace: {where} (open it in https://ui.perfetto.dev or chrome://tracing; TensorBoard shows it with "
                 f"the torch-tb-profiler plugin)"]
        for line in lines:
            for part in line.splitlines():
                log.info("%s", part)
            console.print(line, highlight=False, markup=False, soft_wrap=True)

    def close(self) -> None:
        if self.prof is not None:
            try:
                self._stop()
            except Exception:  # an error already ends the run: the profile is what is lost, not the message
                pass


def top_operators(averages, top: int, cuda: bool = False) -> str:
    """The ``top`` operators by self time (CUDA time when recorded, else CPU) as a plain-text table: calls, self and
    total time in ms, and the self time's share of all operators'."""
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    rows = sorted(averages, key=lambda e: getattr(e, key, 0.0), reverse=True)
    total = sum(getattr(e, key, 0.0) for e in averages) or 1.0
    head = ["operator", "calls", "self ms", "total ms", "self %"]
    if cuda:
        head[2:4] = ["self cuda ms", "cpu total ms"]
    body = []
    for e in rows[:top]:
        self_t = getattr(e, key, 0.0)
        body.append([e.key[:48], str(e.count), f"{self_t / 1e3:.3f}", f"{e.cpu_time_total / 1e3:.3f}",
                     f"{100 * self_t / total:.1f}"])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(r) for r in body)])
