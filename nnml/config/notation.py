"""What the user typed, as they typed it: each override's value in its own notation (``optimizer.lr=1e10`` stays
``1e10``, not ``10000000000.0``), and what a sweep varies. Sweep job folders, the HParams column order and the NaN
hint use it. Everything here is a pure function of the command line it is given.
"""

from __future__ import annotations

import re


def split_top_level(text: str) -> list[str]:
    """``a,[1,2],'x,y'`` -> ``["a", "[1,2]", "'x,y'"]``: the values of a sweep as typed."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return [p.strip() for p in out]


def varied_values(typed: list[str], params: dict | None = None) -> dict[str, dict[str, str]]:
    """``{key: {value as Hydra formats it: value as typed}}`` for every key a sweep varies: the command line's
    overrides ``typed`` and the sweeper's ``params`` of a preset, in the order typed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    typed = [str(a) for a in typed]
    given = {a.split("=", 1)[0] for a in typed}
    typed += [f"{k}={v}" for k, v in (params or {}).items() if k not in given]
    parser = OverridesParser.create()
    out: dict[str, dict[str, str]] = {}
    for text in typed:
        try:
            (ov,) = parser.parse_overrides([text])
        except Exception:
            continue
        if not ov.is_sweep_override():
            continue
        key = ov.key_or_group.lstrip("+~")
        try:
            formatted = list(ov.sweep_string_iterator())
        except Exception:  # interval or tag sweeps of other sweepers: no list of values
            out[key] = {}
            continue
        raw = text.split("=", 1)[1]
        pieces = split_top_level(raw) if "(" not in raw else formatted
        out[key] = dict(zip(formatted, pieces)) if len(pieces) == len(formatted) else {f: f for f in formatted}
    return out


def typed_values(overrides: list[str], varies: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """key -> value as the user typed it, for one job's ``overrides`` (a sweep job's value mapped back to its
    typed text through ``varies``)."""
    out = {}
    for text in overrides:
        k, _, v = str(text).partition("=")
        key = k.lstrip("+~")
        out[key] = (varies or {}).get(key, {}).get(v, v)
    return out


def number_like(value: float, like: str | None) -> str:
    """``value`` in the notation of ``like``: scientific as typed (``1e10`` -> ``1e9``), else plain (``0.001``)."""
    if like and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", like.strip()):
        mantissa, exp = f"{value:.3e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}{'E' if 'E' in like else 'e'}{int(exp)}"
    return f"{value:g}"
