"""A reader for GNU gettext ``.po`` catalogues, and the ones that ship inside the installed Django package.

Django's wheel (BSD-3) carries human translations of its UI strings for ~100 languages. nnml reads them from the
installed package at run time and never copies them anywhere (not into the repository, not into run folders).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from nnml.errors import NnmlError

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.)")


def _unquote(s: str) -> str:
    """The value of one quoted .po string (C escapes)."""
    s = s.strip()
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        raise ValueError("not a quoted string")
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), s[1:-1])


def read_po(path: Path) -> list[dict]:
    """Entries of one catalogue: dicts with ``msgid``, ``msgstr`` (or ``msgstr[0]``...), ``msgctxt``,
    ``msgid_plural`` where present, and ``fuzzy`` (a translator marked it unsure)."""
    entries: list[dict] = []
    cur: dict = {}
    key = None
    fuzzy = False

    def flush():
        nonlocal cur, fuzzy
        if cur.get("msgid") is not None:
            cur["fuzzy"] = fuzzy
            entries.append(cur)
        cur, fuzzy = {}, False

    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                flush()
                key = None
                continue
            if line.startswith("#"):
                if line.startswith("#,") and "fuzzy" in line:
                    fuzzy = True
                continue
            if line.startswith('"'):
                if key is not None:
                    cur[key] += _unquote(line)
                continue
            k, _, v = line.partition(" ")
            if k in ("msgid", "msgctxt") and "msgstr" in cur or k in ("msgid", "msgctxt") and "msgstr[0]" in cur:
                flush()
            key = k
            try:
                cur[k] = _unquote(v)
            except ValueError as e:
                raise NnmlError(f"{path}: cannot read the line {line[:60]!r} ({e})") from None
    flush()
    return entries


def django_root() -> Path:
    try:
        import django
    except ImportError:
        raise NnmlError("the Django catalogues need the django package; pip install django") from None
    return Path(django.__file__).parent


@functools.lru_cache(maxsize=1)
def _locale_dirs() -> tuple[Path, ...]:
    # Django keeps its catalogues in conf/locale and contrib/<app>/locale; walking the whole package took seconds.
    root = django_root()
    return tuple([root / "conf" / "locale", *sorted(root.glob("contrib/*/locale"))])


def django_catalogues(lang: str) -> list[Path]:
    """Every ``django.po`` of ``lang`` in the installed Django (core and contrib apps), in a fixed order."""
    return [p for d in _locale_dirs() if (p := d / lang / "LC_MESSAGES" / "django.po").is_file()]


def translations(lang: str) -> list[tuple[str, str]]:
    """(English msgid, translation) pairs of ``lang``: not fuzzy, translated, singular form, in catalogue order."""
    out = []
    for path in django_catalogues(lang):
        for e in read_po(path):
            text = e.get("msgstr") or e.get("msgstr[0]") or ""
            if e["msgid"] and text and not e["fuzzy"]:
                out.append((e["msgid"], text))
    return out
