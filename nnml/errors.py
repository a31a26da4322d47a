"""User-facing errors: one clear line that names the key, the bad value and what would be valid.

Anything raised as :class:`NnmlError` is printed without a traceback by the CLI (unless
``NNML_DEBUG=1`` or ``HYDRA_FULL_ERROR=1``) and ends the process with ``exit_code``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NnmlError(Exception):
    """An error the user can fix; its message is shown as is, on one line."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    match = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def bad_choice(key: str, value: object, choices: Iterable[str]) -> NnmlError:
    """The standard message for a value outside a fixed set of choices."""
    choices = sorted(str(c) for c in choices)
    return NnmlError(f"{key}={value!s} is not valid{did_you_mean(str(value), choices)}; choose one of: {', '.join(choices)}")
