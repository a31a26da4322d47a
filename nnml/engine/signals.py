"""Ctrl-C and SIGTERM during training: the first one sets a flag the loop checks after each step (it finishes the
step, saves ``last.pt`` and raises :class:`Interrupted`); a second SIGINT stops at once."""

from __future__ import annotations

import signal
import time
from pathlib import Path


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived; the loop saved ``last.pt`` and stopped. ``exit_code`` is 130 or 143."""

    def __init__(self, signum: int, checkpoint: Path | None):
        self.signum = signum
        self.exit_code = 128 + signum
        self.checkpoint = checkpoint
        super().__init__(signal.Signals(signum).name)


class SignalGuard:
    """First SIGINT/SIGTERM sets a flag the loop checks after each step; a second SIGINT stops at once.

    ``external``: a function asked at most every ``POLL_S`` seconds whether someone else asks this run to stop (the
    signal number, or 0): a sweep whose command got Ctrl-C while this job runs in another process."""

    POLL_S = 0.25

    def __init__(self, external=None):
        self.signum = 0
        self._old = {}
        self._external = external
        self._next_poll = 0.0

    def _handle(self, signum, frame):
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def stopped(self) -> int:
        """The signal that asks the loop to stop (0: none); polls ``external`` when its time has come."""
        if not self.signum and self._external is not None:
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + self.POLL_S
                self.signum = int(self._external() or 0)
        return self.signum

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
