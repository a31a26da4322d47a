"""``nnml diff RUN_A RUN_B``: what differs between two runs and what came of it. The config keys that differ
(dotted, A vs B, with the group choices first), the environment and code (from each run's ``provenance.json``:
versions, machine, nnml's commit, the user's code, threads, seeds), the metrics side by side with B−A and which run
is better (by the directions the run's task recorded in ``metrics.json``), and the run's outcome (epochs, stop
reason, time).

A run folder is data from disk: its YAML is read with ``yaml.safe_load`` (a ``!!python`` tag is refused with the
file and line, never constructed), and no torch is imported, so this answers at once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from nnml.errors import NnmlError
from nnml.sweep.runs import flatten

ABSENT = "(absent)"
SPLITS = ("train", "val", "test")
RUN_FACTS = ("status", "monitor", "epochs", "best_epoch", "stop_reason", "num_params", "wall_time_s",
             "train_samples_per_s", "device", "nnml_version")
# Provenance fields that differ between any two runs whatever they did (a user code diff's text is left out too:
# its sha256 and size are compared, and provenance.json holds the text).
NOT_COMPARED = ("format", "created_at")


@dataclass
class RunFiles:
    path: Path
    config: dict = field(default_factory=dict)       # flattened .hydra/config.yaml
    choices: dict = field(default_factory=dict)      # group -> option (.hydra/hydra.yaml)
    metrics: dict = field(default_factory=dict)      # metrics.json
    provenance: dict | None = None                   # provenance.json, when the run wrote one
    status: str = "incomplete"                       # ok | failed | incomplete


def read_yaml(path: Path):
    """A YAML file of a run folder as plain data (nnml/config/runfolder.py: a ``!!python`` tag, broken YAML or an
    alias bomb is one line naming the file and line)."""
    from nnml.config.runfolder import safe_yaml

    return safe_yaml(path)


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise NnmlError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise NnmlError(f"{path}: cannot be read ({' '.join(str(e).split())})") from None


def load(path) -> RunFiles:
    """A run folder's config, group choices, metrics and provenance; a missing folder or one that holds no run:
    NnmlError."""
    path = Path(path)
    if not path.exists():
        raise NnmlError(f"{path} does not exist; give two run folders (e.g. outputs/train/runs/<run> or a sweep's "
                        f"job folder such as outputs/train/multiruns/<sweep>/optimizer=adam)")
    if not path.is_dir():
        raise NnmlError(f"{path} is a file; give a run folder (the folder that holds .hydra/ and metrics.json)")
    config_file, metrics_file = path / ".hydra" / "config.yaml", path / "metrics.json"
    if not config_file.is_file() and not metrics_file.is_file():
        raise NnmlError(f"{path} is not a run folder (it holds neither .hydra/config.yaml nor metrics.json); "
                        f"for a sweep, give two of its job folders")
    run = RunFiles(path=path)
    if config_file.is_file():
        cfg = read_yaml(config_file)
        if cfg is not None and not isinstance(cfg, dict):
            raise NnmlError(f"{config_file}: not a config (a mapping of keys), but a {type(cfg).__name__}")
        run.config = flatten(cfg or {}, as_text=False)
    hydra_file = path / ".hydra" / "hydra.yaml"
    if hydra_file.is_file():
        choices = _dig(read_yaml(hydra_file), "hydra", "runtime", "choices")
        run.choices = {str(k): v for k, v in choices.items() if not str(k).startswith("hydra/")}
    if metrics_file.is_file():
        metrics = read_json(metrics_file)
        if not isinstance(metrics, dict):
            raise NnmlError(f"{metrics_file}: not a run's metrics (a JSON object), but a {type(metrics).__name__}")
        run.metrics, run.status = metrics, "ok"
    if (path / "error.txt").is_file():
        run.status = "failed"
    prov_file = path / "provenance.json"
    if prov_file.is_file():
        prov = read_json(prov_file)
        if not isinstance(prov, dict):
            raise NnmlError(f"{prov_file}: not a provenance record (a JSON object), but a {type(prov).__name__}")
        run.provenance = prov
    return run


def _dig(node, *keys) -> dict:
    for k in keys:
        node = node.get(k) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def key_rows(a: dict, b: dict, skip=()) -> list[dict]:
    """``{"key", "a", "b", "only_in"}`` for every key whose value differs, in A's order, a key only B has beside
    the other keys of its top-level node."""
    keys = list(dict.fromkeys([*a, *b]))
    tops = list(dict.fromkeys(k.split(".", 1)[0] for k in keys))
    keys.sort(key=lambda k: tops.index(k.split(".", 1)[0]))  # stable: the order within a node is kept
    rows = []
    for key in keys:
        if any(key == s or key.startswith(s + ".") for s in skip):
            continue
        in_a, in_b = key in a, key in b
        if in_a and in_b and _same(a[key], b[key]):
            continue
        rows.append({"key": key, "a": _json_safe(a.get(key)), "b": _json_safe(b.get(key)),
                     "only_in": None if in_a and in_b else ("a" if in_a else "b")})
    return rows


def _environment(prov: dict) -> dict:
    flat = flatten(prov, as_text=False)
    return {k: v for k, v in flat.items() if not k.endswith(".git.diff")}  # its sha256 and size stand for it


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _metric_names(a: dict, b: dict) -> list[str]:
    names = [k for k in dict.fromkeys([*a, *b]) if "/" in k
             and any(isinstance(m.get(k), (int, float)) and not isinstance(m.get(k), bool) for m in (a, b))]
    order = {s: i for i, s in enumerate(SPLITS)}
    return sorted(names, key=lambda k: order.get(k.split("/", 1)[0], len(SPLITS)))  # stable: metrics.json order


def direction(metric: str, a: dict, b: dict) -> str | None:
    """``max`` or ``min`` as the runs' tasks recorded it (metrics.json ``directions``); None when neither run
    recorded one or the two disagree."""
    base = metric.split("/", 1)[-1]
    found = {(m.get("directions") or {}).get(base) for m in (a, b) if isinstance(m.get("directions"), dict)}
    found.discard(None)
    return found.pop() if len(found) == 1 and found <= {"max", "min"} else None


def metric_rows(a: dict, b: dict) -> list[dict]:
    rows = []
    for name in _metric_names(a, b):
        va, vb = a.get(name), b.get(name)
        mode = direction(name, a, b)
        diff = vb - va if _number(va) and _number(vb) else None
        better = None
        if diff is not None and mode is not None:
            better = "same" if diff == 0 else ("b" if (diff > 0) == (mode == "max") else "a")
        rows.append({"metric": name, "a": _json_safe(va), "b": _json_safe(vb), "diff": diff, "direction": mode,
                     "better": better})
    return rows


def diff_runs(path_a, path_b) -> dict:
    """The whole comparison as plain JSON data (what ``nnml diff --json`` prints)."""
    a, b = load(path_a), load(path_b)
    env = None
    if a.provenance is not None and b.provenance is not None:
        env = key_rows(_environment(a.provenance), _environment(b.provenance), skip=NOT_COMPARED)
    facts_a = {**{k: a.metrics[k] for k in RUN_FACTS if k in a.metrics}, "status": a.status}
    facts_b = {**{k: b.metrics[k] for k in RUN_FACTS if k in b.metrics}, "status": b.status}
    return {
        "a": str(a.path), "b": str(b.path),
        "choices": key_rows(a.choices, b.choices),
        "config": key_rows(a.config, b.config),
        "config_keys": len(set(a.config) | set(b.config)),
        "provenance": {"a": a.provenance is not None, "b": b.provenance is not None},
        "environment": env,
        "metrics": metric_rows(a.metrics, b.metrics),
        "run": [{"key": k, "a": _json_safe(facts_a.get(k)), "b": _json_safe(facts_b.get(k))}
                for k in RUN_FACTS if k in facts_a or k in facts_b],
    }


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None  # NaN/inf are not JSON; null says "no number", as nnml compare --format json writes it
    return v


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, default=str, allow_nan=False) + "\n"


def cell(row: dict, side: str, width: int = 72) -> str:
    from nnml.sweep.runs import fmt

    if row.get("only_in") not in (None, side):
        return ABSENT
    v = row[side]
    text = json.dumps(v) if isinstance(v, (list, dict)) else fmt(v)
    return text if len(text) <= width else text[: width - 1] + "…"
