"""The rich console: a header, live progress on a terminal (one plain line per epoch otherwise), a summary table."""

from __future__ import annotations

import io
import logging
import sys
import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nnml.engine.callbacks import Callback

log = logging.getLogger("nnml")


def is_live(console: Console) -> bool:
    # CI logs and pipes get plain lines: rich cannot animate there, and its final frame would print after the logs.
    return console.is_terminal and not console.is_dumb_terminal


def make_console(stderr: bool = False) -> Console:
    """A rich console; when writing to a file or pipe, wide enough that tables do not wrap into unreadable cells."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=160)


def clock(seconds: float) -> str:
    """``42 s``, ``3:07``, ``1:02:09``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rem = divmod(s, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60}:{rem % 60:02d}"


def plural(n, word: str) -> str:
    """``1 thread``, ``2 threads``, ``1,797 parameters`` (thousands separated)."""
    try:
        count = int(n)
    except (TypeError, ValueError):
        return f"{n} {word}s"
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
    return str(v)


def _speed_column_class():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class SpeedColumn(ProgressColumn):
        """Steps per second, blank until rich has measured it."""

        def render(self, task):
            return Text(f"{task.speed:,.0f} it/s" if task.speed else "", style="progress.data.speed")

    return SpeedColumn


def _SpeedColumn():  # noqa: N802 (a factory that reads like the class it builds)
    return _speed_column_class()()


MAX_HEADER_LAYERS = 24  # a longer model gets one line pointing at nnml summary


class ConsoleCallback(Callback):
    """The run's header, epoch lines and results on the console and in the log (``train.log``). ``quiet``: neither
    (a DDP rank other than 0); ``echo=False``: the log only (a sweep's job, whose command prints one line per job)."""

    def __init__(self, console: Console | None = None, quiet: bool = False, echo: bool = True):
        self.console = console or make_console()
        self.quiet = quiet
        self.echo = echo and not quiet
        self.progress = None
        self._task = None
        self._t0 = time.perf_counter()

    def on_fit_start(self, state) -> None:
        info = state.info
        self._t0 = time.perf_counter()
        c = self.console
        sizes = info.get("sizes", {})
        threads = int(info.get("threads") or 1)
        why = info.get("threads_why") or ""
        loss = info.get("loss") or ""
        lines = [
            f"run folder {short_path(info.get('run_dir', ''))}",
            f"  data    {info.get('dataset')} ({info.get('task')}): train {sizes.get('train')}, val {sizes.get('val')}, "
            f"test {sizes.get('test')}; input {tuple(info.get('input_shape', ()))}, {plural(info.get('num_outputs'), 'output')}",
            f"  model   {info.get('model')} with {plural(info.get('num_params', 0), 'parameter')}; "
            f"optimizer {info.get('optimizer')}; loss {loss}",
            f"  device  {info.get('device')}, precision {info.get('precision')}, {plural(threads, 'thread')}"
            f"{f' ({why})' if why and why != 'as set' else ''}; {plural(state.max_epochs, 'epoch')} of "
            f"{plural(state.steps_per_epoch, 'step')}",
        ]
        for line in info.get("header_notes") or []:
            lines.append(f"  note    {line}")
        if info.get("resumed_from"):
            lines.append(f"  resumed from {info['resumed_from']} at epoch {state.epoch}, step {state.global_step}")
        for line in lines:
            log.info(line.strip())  # the log has the header even when the screen stays quiet (nnml.train)
        layers = info.get("layers") or []
        for r in layers if len(layers) <= MAX_HEADER_LAYERS else ():
            log.info("layer %s %s -> %s, %s params, trainable %s", r["layer"], r["type"], r["output"],
                     r["params"], r["trainable"])
        if not self.echo:
            return
        c.print("[bold]nnml train[/bold]  " + escape(lines[0]), soft_wrap=True, highlight=False)
        for line in lines[1:]:
            c.print(line, soft_wrap=True, highlight=False, markup=False)
        if 0 < len(layers) <= MAX_HEADER_LAYERS:
            from nnml.tracking.layers import layer_table

            c.print(layer_table(layers))
        elif layers:
            c.print(f"  ({len(layers)} layers: nnml summary {short_path(info.get('run_dir', ''))} lists them)",
                    highlight=False, markup=False)
        if is_live(c):
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                _SpeedColumn(), TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn(),
                TextColumn("{task.fields[msg]}"), console=c, transient=False,
            )
            self.progress.start()
            total = state.max_epochs * state.steps_per_epoch
            self._task = self.progress.add_task("train", total=total, completed=state.global_step,
                                                epoch=f"{state.epoch + 1}/{state.max_epochs}", msg="")

    def on_train_log(self, state, scalars) -> None:
        if self.progress is not None:
            self.progress.update(self._task, completed=state.global_step,
                                 epoch=f"{state.epoch + 1}/{state.max_epochs}",
                                 msg=f"loss {scalars['train/loss']:.4f}")

    def on_epoch_end(self, state, metrics) -> None:
        shown = "  ".join(f"{k} {fmt(v)}" for k, v in metrics.items() if k != "lr")
        now = time.perf_counter()
        took, self._epoch_t = now - getattr(self, "_epoch_t", self._t0), now
        self._epochs_timed = getattr(self, "_epochs_timed", 0) + 1
        per_epoch = (now - self._t0) / self._epochs_timed
        left = max(0, state.max_epochs - state.epoch) * per_epoch
        # Piped logs (CI, nohup) have no progress bar: each line says how long the epoch took and what is left.
        timing = f"{took:.2f} s" + (f", {clock(left)} left" if state.epoch < state.max_epochs else "")
        lr = f"  lr {metrics['lr']:.3g}" if "lr" in metrics else ""  # no optimizer (ALS): no learning rate
        self._line(f"epoch {state.epoch}/{state.max_epochs}  {shown}{lr}  ({timing})")
        if self.progress is not None:
            self.progress.update(self._task, completed=state.global_step,
                                 epoch=f"{min(state.epoch + 1, state.max_epochs)}/{state.max_epochs}", msg="")

    def _line(self, line: str) -> None:
        """A line for the log and the screen: above the progress bar on a terminal (finished epochs stay on
        screen; the bar shows the epoch under way), plain in piped output, nothing when quiet."""
        log.info("%s", line)
        if self.progress is not None:
            self.progress.console.print(line, highlight=False, soft_wrap=True, markup=False)
        elif self.echo:
            self.console.print(line, highlight=False, soft_wrap=True, markup=False)

    def on_notice(self, state, message) -> None:
        self._line(f"note: {message}")

    def warn(self, message: str) -> None:
        """A warning about the run (:mod:`nnml.tracking.advice`): one line, in the log as a warning, on screen in
        yellow above the progress bar."""
        log.warning("warning: %s", message)
        console = self.progress.console if self.progress is not None else None if self.quiet else self.console
        if console is not None:
            console.print(f"[bold yellow]warning:[/bold yellow] {escape(message)}", highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_fit_end(self, state) -> None:
        self.close()
        if state.stop_reason and state.stop_reason != "max_epochs" and not self.quiet:
            log.info("stopped: %s", state.stop_reason)
            if self.echo:
                self.console.print(f"stopped: {state.stop_reason}", markup=False)

    def on_test_end(self, state, metrics) -> None:
        """The results table, the best epoch and where the run folder is."""
        if not self.quiet:
            print_summary(self.console, metrics, str(state.info.get("run_dir", "")), echo=self.echo,
                          kept=state.info.get("keep_run", True))


def summary_table(metrics: dict, title: str = "Results") -> Table:
    """Rows train / val / test, one column per metric name; under val and test a row of 95% intervals where the
    run has them (metrics.json ``intervals``: Wilson for accuracies, a bootstrap over samples for the others)."""
    splits = ("train", "val", "test")
    names: list[str] = []
    for k in metrics:
        if "/" in k and k.split("/", 1)[0] in splits and k.split("/", 1)[1] not in names:
            names.append(k.split("/", 1)[1])
    intervals = metrics.get("intervals") if isinstance(metrics.get("intervals"), dict) else {}
    table = Table(title=title)
    table.add_column("split")
    for n in names:
        table.add_column(n, justify="right")
    for s in splits:
        if any(f"{s}/{n}" in metrics for n in names):
            table.add_row(s, *[fmt(metrics[f"{s}/{n}"]) if f"{s}/{n}" in metrics else "" for n in names])
        if any(f"{s}/{n}" in intervals for n in names):
            table.add_row("  95% CI", *[_interval(intervals.get(f"{s}/{n}")) for n in names])
    return table


def _interval(pair) -> str:
    if not pair or None in pair:
        return ""
    lo, hi = float(pair[0]), float(pair[1])
    return f"[{lo:.3f}, {hi:.3f}]" if max(abs(lo), abs(hi)) < 1e4 else f"[{lo:.4g}, {hi:.4g}]"


def interval_caption(metrics: dict) -> str:
    """What the interval rows are (how many samples, which method), in a line under the table."""
    how = metrics.get("interval_methods") or {}
    wilson = sorted({k.split("/", 1)[1] for k, v in how.items() if str(v).startswith("Wilson")})
    boot = next((str(v).split(" of n")[0] for v in how.values() if "bootstrap" in str(v)), "")
    sizes = {k.split("/", 1)[0]: str(v).rsplit("n = ", 1)[-1] for k, v in how.items() if "n = " in str(v)}
    n = ", ".join(f"{split} n = {sizes[split]}" for split in ("val", "test") if split in sizes)
    parts = ([f"Wilson for {', '.join(wilson)}"] if wilson else []) + \
        ([f"{boot} for the others" if wilson else boot] if boot else [])
    return (f"95% CI over the evaluated samples ({n}): {'; '.join(parts)}. Another seed moves the metrics too: "
            f"compare seeds (+seeds=N).")


def short_path(path) -> str:
    """``path`` relative to the current folder when it lies below it (what a user would type)."""
    import os

    try:
        rel = os.path.relpath(path)
        return str(path) if rel.startswith("..") else rel
    except ValueError:
        return str(path)


def print_summary(console: Console, metrics: dict, run_dir: str, echo: bool = True, kept: bool = True) -> None:
    """The results table and the run's totals, to the log and (``echo``) the console; ``kept=False``: the command
    removes the folder once the run is done (debug=fast)."""
    table = summary_table(metrics)
    # force_jupyter=False: in a notebook rich would display a console that writes to a string, too
    text = Console(width=200, record=True, file=io.StringIO(), color_system=None, force_jupyter=False)
    text.print(table)
    for line in text.export_text().rstrip().splitlines():  # the log gets the same table as the terminal
        log.info("%s", line.rstrip())
    note = interval_caption(metrics) if metrics.get("intervals") else None
    if note:
        log.info("%s", note)
    segments = metrics.get("segments") or []
    within = f" in {len(segments)} segments" if len(segments) > 1 else ""  # a resumed run's total
    line = (f"best epoch {metrics.get('best_epoch')} of {metrics.get('epochs')}, "
            f"{metrics.get('wall_time_s', 0):.1f} s{within}, {metrics.get('train_samples_per_s', 0):,.0f} train samples/s "
            f"on {metrics.get('device')}")
    log.info("%s", line)
    if not echo:
        return
    console.print(table)
    if note:
        console.print(note, soft_wrap=True, highlight=False, markup=False)
    console.print(line)
    if not kept:  # debug=fast: the command removes the folder once the run is done
        console.print(f"run folder: {short_path(run_dir)} (removed after the run: debug=fast keeps nothing)",
                      soft_wrap=True, highlight=False, markup=False)
    else:
        console.print(f"run folder: {short_path(run_dir)}", soft_wrap=True, highlight=False, markup=False)
        console.print(f"view it:    nnml board {short_path(run_dir)}", soft_wrap=True, highlight=False, markup=False)
    print_warnings(console, metrics.get("warnings") or [])
    sys.stdout.flush()


def print_warnings(console: Console, warnings: list[str]) -> None:
    """The run's warnings last, where a student looks (also in train.log and metrics.json's ``warnings``)."""
    if not warnings:
        return
    head = f"{plural(len(warnings), 'warning')} about this run (also in metrics.json and train.log):"
    log.warning("%s", head)
    console.print(f"[bold yellow]{head}[/bold yellow]", highlight=False, soft_wrap=True)
    for w in warnings:
        log.warning("  ! %s", w)
        console.print(f"[bold yellow]  ![/bold yellow] {escape(w)}", highlight=False, soft_wrap=True)
