"""The house stays as docs/architecture.md draws it. Every import inside nnml (module level or inside a function)
goes down: to a lower layer, or inside a layer to a unit listed after it. Layers and units, top to bottom:

    face      nnml (the package's face: version and the Python API), nnml.__main__
    api       nnml.api                            notebooks: the same runs as the command line
    cli       nnml.cli                            commands, checks before a run, Hydra entry points, printing
    app       nnml.sweep, nnml.accelerate         what several runs or a finished run add up to
              nnml.run                            one run: config -> objects -> loop -> files
              nnml.lab                            lecture 1
    tasks     nnml.tasks.<track> (one folder per kind of learning), then nnml.tasks.supervised (the shared base of
              text classification, fine-tuning and distillation), then nnml.tasks (base.py: the Task interface)
    config    nnml.config, nnml.configs           composition, checks of values, the trust rule, run folders
    tracking  nnml.tracking                       observers of the loop (console, TensorBoard, files)
    parts     nnml.data, nnml.models, nnml.augment
    engine    nnml.engine                         the loop and what it needs
    base      nnml.errors, nnml.files, nnml.version, nnml.stats

Beside the order: no cycles between files, no imports between track folders (but of the supervised base), nnml
modules imported by a string only in the target registry, third-party frameworks only where they belong, and no
NNML_* environment variable written by nnml itself.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nnml"

# (layer, units in the order they may import each other: earlier may import later)
LAYERS = [
    ("face", ["nnml.__main__", "nnml"]),
    ("api", ["nnml.api"]),
    ("cli", ["nnml.cli"]),
    ("app", ["nnml.sweep", "nnml.accelerate", "nnml.run", "nnml.lab"]),
    ("tasks", ["nnml.tasks.*", "nnml.tasks.supervised", "nnml.tasks"]),
    ("config", ["nnml.config", "nnml.configs"]),
    ("tracking", ["nnml.tracking"]),
    ("parts", ["nnml.data", "nnml.models", "nnml.augment"]),
    ("engine", ["nnml.engine"]),
    ("base", ["nnml.stats", "nnml.errors", "nnml.files", "nnml.version"]),
]
TRACKS = ["distill", "generative", "recsys", "representation", "segmentation", "supervised", "text"]
SHARED_TRACK = "nnml.tasks.supervised"  # the supervised task is the base of these tracks' tasks:
MAY_USE_SUPERVISED = {"nnml.tasks.text", "nnml.tasks.representation", "nnml.tasks.distill"}

# The one registry that imports nnml modules by name: configs name their parts by dotted path.
STRING_IMPORTS_ALLOWED = {"nnml/config/targets.py"}

# Third-party frameworks and the layers that may use them (units below them may not).
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
ENGINE_THIRD_PARTY = {"torch", "numpy"}
# The data layer reads the sources its datasets come from; still no framework of the layers above.
# (matplotlib: the mnist1d package imports pyplot when it loads; nnml picks a headless backend first)
DATA_THIRD_PARTY = ENGINE_THIRD_PARTY | {"sklearn", "mnist1d", "PIL", "pandas", "pyarrow", "matplotlib"}
FRAMEWORKS = {"rich": "tracking", "tensorboard": "tracking", "hydra": "config", "omegaconf": "config",
              "typer": "cli"}


def _rank():
    order = []
    for layer, units in LAYERS:
        order += [(layer, u) for u in units]
    return {u: len(order) - i for i, (_, u) in enumerate(order)}, {u: layer for layer, us in LAYERS for u in us}


RANK, LAYER = _rank()
LAYER_RANK = {name: len(LAYERS) - i for i, (name, _) in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def unit_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "nnml"
    if parts[1] == "tasks" and len(parts) > 2 and (PACKAGE / "tasks" / parts[2]).is_dir():
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def rank_key(unit: str) -> str:
    """The LAYERS entry of a unit (track folders other than supervised share the ``nnml.tasks.*`` entry)."""
    if unit.startswith("nnml.tasks.") and unit != SHARED_TRACK:
        return "nnml.tasks.*"
    return unit


def files():
    return sorted(PACKAGE.rglob("*.py"))


def imports():
    """(importing module, imported module, file, line) for every nnml import in the package."""
    for path in files():
        module = module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from nnml.cli import train` imports the module nnml.cli.train; `from nnml.cli import app` the name
                subs = [f"{node.module}.{a.name}" for a in node.names if _known(f"{node.module}.{a.name}")]
                names = subs if len(subs) == len(node.names) else [node.module, *subs]
            else:
                continue
            for name in names:
                if name == "nnml" or name.startswith("nnml."):
                    yield module, name, path, node.lineno


def third_party(path: Path):
    """(top-level package, line) of every non-nnml, non-stdlib import of a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            tops = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops = [node.module.split(".")[0]]
        else:
            continue
        for top in tops:
            if top != "nnml" and top not in STDLIB:
                yield top, node.lineno


def test_every_package_has_a_layer():
    units = {unit_of(module_name(p)) for p in files()}
    missing = sorted(u for u in units if rank_key(u) not in RANK)
    assert not missing, f"give these a layer in tests/test_architecture.py and docs/architecture.md: {missing}"


def test_imports_never_go_up():
    wrong = []
    for module, name, path, line in imports():
        a, b = unit_of(module), unit_of(name)
        if a == b:
            continue
        ra, rb = RANK[rank_key(a)], RANK[rank_key(b)]
        if rb >= ra and not (a in MAY_USE_SUPERVISED and b == SHARED_TRACK):
            wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {a} ({LAYER[rank_key(a)]}) imports {b} "
                         f"({LAYER[rank_key(b)]})")
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


def test_track_folders_import_no_other_track():
    tracks = {f"nnml.tasks.{t}" for t in TRACKS}
    wrong = []
    for module, name, path, line in imports():
        a, b = unit_of(module), unit_of(name)
        if a in tracks and b in tracks and a != b and not (a in MAY_USE_SUPERVISED and b == SHARED_TRACK):
            wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {a} imports {b}")
    assert not wrong, "a track folder reaches into another:\n" + "\n".join(wrong)
    assert {p.name for p in (PACKAGE / "tasks").iterdir() if p.is_dir() and p.name != "__pycache__"} == set(TRACKS)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _known(name: str) -> str | None:
    """The nnml module ``name`` refers to (a module file or a package), or None."""
    p = PACKAGE.parent / name.replace(".", "/")
    return name if p.with_suffix(".py").is_file() or (p / "__init__.py").is_file() else None


def test_no_file_cycles_and_no_package_cycles():
    files_graph: dict[str, set[str]] = {}
    units_graph: dict[str, set[str]] = {}
    for module, name, _, _ in imports():
        target = _known(name) or _known(name.rpartition(".")[0])
        if target and target != module:
            files_graph.setdefault(module, set()).add(target)
        a, b = unit_of(module), unit_of(name)
        if a != b:
            units_graph.setdefault(a, set()).add(b)
    assert not _cycles(files_graph), f"files that import each other in a loop: {_cycles(files_graph)}"
    assert not _cycles(units_graph), f"packages that import each other in a loop: {_cycles(units_graph)}"


def test_nnml_modules_are_imported_by_name_only_in_the_registry():
    wrong = []
    for path in files():
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name not in ("import_module", "__import__"):
                continue
            arg = node.args[0] if node.args else None
            literal = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            if literal is not None and not literal.startswith("nnml"):
                continue  # a third-party module by name (torch._dynamo): not nnml's own
            if rel not in STRING_IMPORTS_ALLOWED:
                wrong.append(f"{rel}:{node.lineno}")
    assert not wrong, "nnml modules imported by a string outside nnml/config/targets.py:\n" + "\n".join(wrong)


def test_third_party_frameworks_stay_in_their_layers():
    wrong = []
    for path in files():
        module = module_name(path)
        unit = rank_key(unit_of(module))
        layer = LAYER[unit]
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for top, line in third_party(path):
            if layer == "engine" and top not in ENGINE_THIRD_PARTY:
                wrong.append(f"{rel}:{line}: the engine uses torch and numpy only, not {top}")
            elif unit == "nnml.data" and top not in DATA_THIRD_PARTY:
                wrong.append(f"{rel}:{line}: the data layer reads its sources with torch, numpy and their readers, "
                             f"not {top}")
            elif top in FRAMEWORKS and LAYER_RANK[layer] < LAYER_RANK[FRAMEWORKS[top]]:
                wrong.append(f"{rel}:{line}: {top} belongs to the {FRAMEWORKS[top]} layer and above; {module} is "
                             f"in {layer}")
    assert not wrong, "\n".join(wrong)


def test_nnml_writes_no_environment_variables_of_its_own():
    wrong = []
    for path in files():
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            target = None
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                target = node.targets[0]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "setdefault", "update", "putenv", "pop") and "environ" in ast.unparse(node.func.value):
                target = node
            if target is not None and "environ" in ast.unparse(target) and "NNML_" in ast.unparse(target):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(target)[:80]}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and any(
                    (kw.arg or "").startswith("NNML_") for kw in node.keywords):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: an environment made with NNML_ "
                             f"variables")
    assert not wrong, "nnml sets NNML_* variables for itself to read:\n" + "\n".join(wrong)


def test_the_checks_see_what_they_forbid(tmp_path, monkeypatch):
    """Not vacuous: an engine module importing tracking, a track importing another, a string import, rich in the
    engine and an NNML_ variable written are all found."""
    fake = tmp_path / "nnml"
    (fake / "engine").mkdir(parents=True)
    (fake / "tasks" / "segmentation").mkdir(parents=True)
    (fake / "tasks" / "text").mkdir(parents=True)
    (fake / "engine" / "bad.py").write_text(
        "import os\nimport rich\nimport importlib\nfrom nnml.tracking.console import ConsoleCallback\n"
        "importlib.import_module('nnml.x')\nos.environ['NNML_X'] = '1'\n")
    (fake / "tasks" / "segmentation" / "task.py").write_text("from nnml.tasks.text.tag import X\n")
    (fake / "tasks" / "text" / "tag.py").write_text("from nnml.tasks.segmentation.task import Y\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    monkeypatch.setattr(sys.modules[__name__], "TRACKS", ["segmentation", "text"])
    found = {(m, n) for m, n, *_ in imports()}
    assert ("nnml.engine.bad", "nnml.tracking.console") in found
    for check in (test_imports_never_go_up, test_track_folders_import_no_other_track,
                  test_nnml_modules_are_imported_by_name_only_in_the_registry,
                  test_third_party_frameworks_stay_in_their_layers, test_nnml_writes_no_environment_variables_of_its_own):
        try:
            check()
        except AssertionError:
            continue
        raise AssertionError(f"{check.__name__} did not see the planted fault")
