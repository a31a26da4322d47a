"""Progress of a training run that is not on the console itself: a tune trial's epochs on stderr (on a terminal one
line rewritten in place, in a log about five lines per trial). A tracking callback: it observes the loop."""

from __future__ import annotations

import time

from nnml.engine.callbacks import Callback


class TrialProgress(Callback):
    """A trial's epochs while it runs (``nnml tune`` prints one line per trial only when it ends): on a terminal
    one line rewritten in place, in a log about five lines per trial."""

    def __init__(self, number: int, metric: str):
        import sys

        self.number, self.metric = number, metric
        self.live = sys.stderr.isatty()
        self.t0 = time.perf_counter()

    def on_epoch_end(self, state, metrics) -> None:
        import sys

        every = max(1, -(-state.max_epochs // 5))
        value = metrics.get(self.metric)
        shown = f"{self.metric} {value:.4f}" if isinstance(value, float) else ""
        line = (f"  trial {self.number:>3}  epoch {state.epoch}/{state.max_epochs}  {shown}  "
                f"({time.perf_counter() - self.t0:.1f} s)")
        if self.live:
            end = "\n" if state.epoch >= state.max_epochs else ""
            sys.stderr.write("\r" + line.ljust(70) + end)
            sys.stderr.flush()
        elif state.epoch % every == 0 or state.epoch >= state.max_epochs:
            print(line, file=sys.stderr, flush=True)

    def on_fit_end(self, state) -> None:
        import sys

        if self.live:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()
