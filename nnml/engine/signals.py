"""Ctrl-C and SIGTERM during training: the first one sets a flag the loop checks after each step (it finishes the
step, saves ``last.pt`` and raises :class:`Interrupted`); a second SIGINT stops at once."""

from __future__ import annotations

import signal
from pathlib import Path


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived; the loop saved ``last.pt`` and stopped. ``exit_code`` is 130 or 143."""

    def __init__(self, signum: int, checkpoint: Path | None):
        self.signum = signum
        self.exit_code = 128 + signum
        self.checkpoint = checkpoint
        super().__init__(signal.Signals(signum).name)


class SignalGuard:
    """First SIGINT/SIGTERM sets a flag the loop checks after each step; a second SIGINT stops at once."""

    def __init__(self):
        self.signum = 0
        self._old = {}

    def _handle(self, signum, frame):
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        except ValueError:
            pass  # not the main thread (a launcher's worker): signals stay with the host
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
