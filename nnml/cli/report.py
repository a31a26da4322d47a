"""How the command line reports: a user's error is one line on stderr and an exit code (a traceback only with
``NNML_DEBUG=1`` or ``HYDRA_FULL_ERROR=1``), notes go to stderr, and a signal during start-up ends the command with
one line and 130 or 143."""

from __future__ import annotations

import os
import signal

from nnml.errors import NnmlError


def debug() -> bool:
    return bool(os.environ.get("NNML_DEBUG") or os.environ.get("HYDRA_FULL_ERROR") == "1")


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def report_error(message: str) -> None:
    from rich.markup import escape

    # escape: values such as model.activation=[relu] must not be read as rich markup
    _console().print(f"[bold red]error:[/bold red] {escape(message)}")


def note(message: str) -> None:
    from rich.markup import escape

    _console().print(f"note: {escape(message)}")


def stopped_note(message: str) -> None:
    from rich.markup import escape

    _console().print(f"[bold yellow]stopped[/bold yellow] {escape(message)}")


def run_cli_guarded(job):
    """For commands outside Hydra (eval, board, compare): NnmlError -> one line on stderr and its exit code. Returns
    what ``job`` returns."""
    try:
        return job()
    except NnmlError as e:
        if debug():
            raise
        report_error(str(e))
        raise SystemExit(e.exit_code) from None
    except Stopped as e:
        report_error(f"stopped by {e.name} before it finished")
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


class Stopped(BaseException):
    """SIGTERM arrived outside the training loop (which has its own handler that saves and stops cleanly). A
    BaseException, as KeyboardInterrupt is: an ``except Exception`` on the way (Hydra's instantiate wrapping a
    dataset builder's errors, a trial's crash handler) must not turn the stop into an error or swallow it."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


def stop_on_sigterm() -> None:
    """SIGTERM (a scheduler, ``kill``) becomes :class:`Stopped` wherever the command is, as SIGINT becomes
    KeyboardInterrupt, so start-up ends with one line and no half-made folder is left without a note."""

    def handler(signum, frame):
        raise Stopped(signum)

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:
        pass  # not the main thread


ALLOW_HELP = ("A module prefix of your own code that the run folder may name (my_models.); repeat for more. A run "
              "folder's own allowed_targets list is never trusted.")


def split_allow(overrides: list[str], allow=()) -> tuple[list[str], list[str]]:
    """(prefixes this command trusts, the other overrides): ``allowed_targets=[my_models.]`` given among a
    command's overrides is this command's trust, not a change to the run's config; ``--allow`` values join it."""
    from nnml.config.overrides import parse_overrides

    prefixes, rest = [str(a) for a in allow or ()], []
    for text in overrides:
        if text.split("=", 1)[0].lstrip("+") == "allowed_targets":
            (ov,) = parse_overrides([text])
            value = ov.value()
            prefixes += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v]
        else:
            rest.append(text)
    return prefixes, rest


def print_notes(folder) -> None:
    """What reading a run folder found worth saying (an ignored allowed_targets list)."""
    for line in getattr(folder, "notes", ()):
        note(line)


def typed_command(name: str, fallback: list[str]) -> list[str]:
    """``nnml NAME ...`` as typed, for provenance.json: this process's own command line when it is that command,
    else (called from Python, a test) the command rebuilt from ``fallback``, the arguments it was given."""
    import sys

    args = [str(a) for a in sys.argv[1:]]
    return ["nnml", *args] if args[:1] == [name] else ["nnml", name, *fallback]
