"""The house stays as docs/architecture.md draws it: every import inside nnml (module level or inside a
function) goes from a layer to the same layer or one below, never up. The layers, top to bottom:

    cli       nnml.cli, nnml.commands              the command line
    app       entry, launch, train, evaluate,      what a command does
              board, sweep, accelerate, checks
    build     nnml.run.build                           config -> objects
    tasks     nnml.tasks                           kinds of learning
    config    nnml.config                          configs: paths, checks, composition, run folders
    tracking  nnml.tracking                        observers of the loop (console, TensorBoard, files)
    parts     data, models, augment, text,         building blocks a task uses
              generative, recsys, lab
    engine    nnml.engine                          the loop and what it needs
    base      nnml, nnml.errors, nnml.files, nnml.stats, nnml.config.notation, nnml.config.targets
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nnml"

LAYERS = [
    ("cli", {"nnml.cli", "nnml.__main__"}),
    ("app", {"nnml.run", "nnml.sweep", "nnml.accelerate"}),
    ("tasks", {"nnml.tasks"}),
    ("config", {"nnml.config", "nnml.configs"}),
    ("tracking", {"nnml.tracking"}),
    ("parts", {"nnml.data", "nnml.models", "nnml.augment", "nnml.lab"}),
    ("engine", {"nnml.engine"}),
    ("base", {"nnml", "nnml.errors", "nnml.files", "nnml.version", "nnml.stats"}),
]
RANK = {unit: len(LAYERS) - i for i, (_, units) in enumerate(LAYERS) for unit in units}
NAME = {unit: name for name, units in LAYERS for unit in units}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return "nnml" if len(parts) == 1 else ".".join(parts[:2])


def imports():
    """(importing module, imported module, file, line) for every nnml import in the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name == "nnml" or name.startswith("nnml."):
                    yield module, name, path, node.lineno


def test_every_package_has_a_layer():
    units = {unit_of(m) for m, *_ in imports()} | {unit_of(n) for _, n, *_ in imports()}
    missing = sorted(u for u in units if u not in RANK)
    assert not missing, f"give these a layer in tests/test_architecture.py and docs/architecture.md: {missing}"


def test_imports_never_go_up():
    wrong = []
    for module, name, path, line in imports():
        a, b = unit_of(module), unit_of(name)
        if a in RANK and b in RANK and RANK[b] > RANK[a]:
            wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {a} ({NAME[a]}) imports {b} ({NAME[b]})")
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


def test_the_test_sees_an_upward_import(tmp_path, monkeypatch):
    """The check is not vacuous: an engine module importing the tracking layer is found."""
    fake = tmp_path / "nnml" / "engine"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from nnml.tracking.console import ConsoleCallback\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "nnml")
    found = [(m, n) for m, n, *_ in imports()]
    assert found == [("nnml.engine.bad", "nnml.tracking.console")]
    assert RANK[unit_of("nnml.tracking.console")] > RANK[unit_of("nnml.engine.bad")]
