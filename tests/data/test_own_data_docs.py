"""The "Your own data" sections of the track pages run as written: each file a section shows is written into a temp
folder (the image folder it describes is drawn), and each ``nnml`` command it shows runs there through the real
CLI, with a tiny-run suffix (2 epochs, CPU, no logger) and ``<run>`` replaced by the newest run folder."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.data.files import invoke, runs, shape_pngs

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = {"homework1.md": "## 6. Your own data", "homework3.md": "## Your own data",
         "homework6.md": "## Your own data"}
FAST = ["trainer.device=cpu", "trainer.num_threads=1", "logger=none", "trainer.max_epochs=2"]


def section(page: str) -> str:
    text = (DOCS / page).read_text(encoding="utf-8")
    start = text.index(PAGES[page])
    end = text.find("\n## ", start + 4)
    return text[start:end if end > 0 else None]


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, body, the text before it) of each fenced block, in order."""
    out, at = [], 0
    for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M):
        out.append((m.group(1), m.group(2), text[at:m.start()]))
        at = m.end()
    return out


def shown_files(text: str) -> dict[str, str]:
    """``name -> content`` of each fenced block with a language whose preceding line ends with ``:`` and names a
    file (`` `likes.csv` ``)."""
    files = {}
    for lang, body, before in blocks(text):
        last = before.strip().splitlines()[-1] if before.strip() else ""
        names = re.findall(r"`([\w-]+\.(?:csv|tsv|tab|txt|parquet))`", last)
        if lang and names and last.endswith(":"):
            files[names[0]] = body
    return files


def shown_commands(text: str) -> list[str]:
    return [line.strip() for lang, body, _ in blocks(text) if not lang for line in body.splitlines()
            if line.strip().startswith("nnml ")]


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_documented_example_runs(page, tmp_path):
    text = section(page)
    files = shown_files(text)
    commands = shown_commands(text)
    assert commands and (files or "dataset.root=shapes" in text), page
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    if "dataset.root=shapes" in text:  # the image folder the page describes: shapes/left, shapes/right
        shape_pngs(tmp_path / "shapes")
    for cmd in commands:
        args = shlex.split(cmd)[1:]
        if args[0] == "train":
            args = ["train", *FAST, *args[1:]]
        else:
            args = [str(runs(tmp_path)[-1]) if a == "outputs/train/runs/<run>" else a for a in args]
        code, out, err, crash = invoke(args, tmp_path)
        assert code == 0 and crash is None, (cmd, err[-3000:], crash)
        assert "Traceback" not in out + err, cmd
