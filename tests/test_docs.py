"""The docs' code is the tested code: every file a docs/your_own_code.md example shows exists in
tests/tasks/user_code/ (which tests/tasks/test_task_design.py trains), and every code line of the example stands
in that file, in order. A student who copies an example gets code that ran."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER_CODE = ROOT / "tests" / "tasks" / "user_code"


def _examples():
    """(file name, code lines) of each example of docs/your_own_code.md that names its file."""
    text = (ROOT / "docs" / "your_own_code.md").read_text()
    for m in re.finditer(r"(?:`(?P<caption>[\w/]+\.(?:py|yaml))`[^\n]*\n\n)?```(?P<lang>python|yaml)\n(?P<body>.*?)```",
                         text, re.S):
        body = m.group("body").splitlines()
        name = m.group("caption")
        if name is None and body and re.match(r"# [\w/]+\.py\b", body[0]):
            name = body[0].split()[1].rstrip(":")
        if name:
            yield name, [line for line in body if line.strip() and not line.lstrip().startswith("#")]


def test_every_named_example_is_in_the_tested_files():
    seen = []
    for name, lines in _examples():
        path = USER_CODE / name
        assert path.is_file(), f"docs/your_own_code.md shows {name}, which tests/tasks/user_code/ does not hold"
        source = [line for line in path.read_text().splitlines() if line.strip()]
        at = 0
        for line in lines:  # each line of the example, in order, somewhere after the previous one
            assert line in source[at:], f"{name}: {line!r} is in the docs but not (in this order) in {path}"
            at = source.index(line, at) + 1
        seen.append(name)
    assert {"my_models.py", "toy_tasks.py", "conf/model/tiny_net.yaml", "conf/task/closed_form.yaml"} <= set(seen)
