"""``nnml compare A B``: is A really better than B? A and B are two runs, or two configurations (each one run or
several seeds: two folders, or ``--a KEY=VALUE --b KEY=VALUE`` within one sweep).

- Two runs are compared on the same evaluation samples with a paired test on their per-sample records
  (``predictions/<split>.npz``, :mod:`nnml.run.records`): McNemar's exact test for a share of samples right
  (accuracy, exact match, hit rate), a paired bootstrap for any other metric recomputed from the records (F1, mIoU,
  BLEU, NDCG, R², -ELBO...). Runs whose records hold other samples (another ``data_seed``, another dataset) are
  refused: a paired test would compare different questions.
- Two configurations with several seeds each are compared over seeds with Welch's t test (no records needed).

Each comparison is a :mod:`nnml.stats` result (diff, ci_low, ci_high, p_value, test) with its sentence
(:func:`nnml.stats.verdict`). Printing is :mod:`nnml.cli.compare`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nnml import stats
from nnml.errors import NnmlError, did_you_mean
from nnml.sweep import groups as G
from nnml.sweep import runs as R

#: metric names shown in points (x100): shares in [0, 1]
PROPORTIONS = ("acc", "f1", "miou", "mdice", "pixel_acc", "exact", "probe_acc", "knn_acc", "precision", "recall",
               "token_acc", "ndcg@", "map@", "hit_rate@", "coverage@", "precision@", "recall@", "iou/", "dice/")
RESAMPLES = 9999


@dataclass
class Side:
    name: str
    runs: list  # finished runs of one configuration

    @property
    def paired(self) -> bool:
        return len(self.runs) == 1


def _finished(runs: list, what: str) -> list:
    done = [r for r in runs if r.status in G.FINISHED]
    if not done:
        raise NnmlError(f"{what} holds no finished run (a finished run has metrics.json)")
    return done


def one_configuration(path) -> list | None:
    """The finished runs under ``path`` when they are one configuration (one run, or seeds of one); else None."""
    runs = [r for r in R.load_runs([path]) if r.status in G.FINISHED]
    if not runs or G.config_columns(runs):
        return None
    return runs


def _matches(run, key: str, want: str, names) -> bool:
    value = R.value_of(run, key, names)
    if str(value) == want or R.fmt(value) == want:
        return True
    try:
        return float(value) == float(want)
    except (TypeError, ValueError):
        return False


def select(runs: list, selector: str, flag: str) -> list:
    """The runs whose config matches every ``KEY=VALUE`` of ``selector`` (comma-separated; a key is a config key
    or a config group)."""
    pairs = [p.strip() for p in selector.split(",") if p.strip()]
    if not pairs or any("=" not in p for p in pairs):
        raise NnmlError(f"{flag} {selector!r} is not valid; give KEY=VALUE pairs, e.g. {flag} optimizer_preset=adam")
    names = {g for r in runs for g in r.choices}
    keys = sorted({k for r in runs for k in r.config} | names)
    chosen = runs
    for p in pairs:
        key, want = (s.strip() for s in p.split("=", 1))
        if key not in keys:
            raise NnmlError(f"{flag} {selector}: {key} is not a config key of these runs{did_you_mean(key, keys)}")
        chosen = [r for r in chosen if _matches(r, key, want, names)]
    if not chosen:
        seen = sorted({R.fmt(R.value_of(r, key, names)) for r in runs})
        raise NnmlError(f"{flag} {selector}: no run has {key}={want}; its values here: {', '.join(seen)}")
    if G.config_columns(chosen):
        raise NnmlError(f"{flag} {selector} selects {len(G.group(chosen, G.config_columns(chosen)))} "
                        f"configurations (they differ in {', '.join(G.config_columns(chosen))}); add KEY=VALUE "
                        f"pairs until it names one")
    return _finished(chosen, f"{flag} {selector}")


def sides(paths, a: str | None = None, b: str | None = None) -> tuple[Side, Side] | None:
    """The two sides of a verdict: ``--a``/``--b`` selectors over the runs under ``paths``, or two paths that are
    one configuration each; None when the command asks for the ranked table instead."""
    if a or b:
        if not (a and b):
            raise NnmlError("--a and --b go together: give both (e.g. --a optimizer_preset=adam --b optimizer_preset=sgd)")
        runs = R.load_runs(list(paths) or [Path("outputs")])
        return Side(a, select(runs, a, "--a")), Side(b, select(runs, b, "--b"))
    if len(paths) != 2:
        return None
    found = [one_configuration(p) for p in paths]
    if any(f is None for f in found):
        return None
    (ra, rb) = found
    if {r.path for r in ra} & {r.path for r in rb}:
        raise NnmlError("A and B are the same runs; give two different runs or configurations")
    names = {g for r in ra + rb for g in r.choices}
    hp = G.config_columns(ra + rb)
    # a config group whose option differs names the side on its own (regularizer=l2, not the keys it sets)
    hp = [k for k in hp if k in names] or hp

    def name(runs, path):
        if hp:
            from nnml.sweep.compare import label

            return label(runs[0], hp, names)
        return Path(path).name

    na, nb = name(ra, paths[0]), name(rb, paths[1])
    if na == nb:
        na, nb = Path(paths[0]).name, Path(paths[1]).name
    return Side(na, ra), Side(nb, rb)


def check_comparable(a: Side, b: Side, metrics: list[str]) -> None:
    """Runs of one task with the metrics asked for; one line otherwise."""
    tasks = {side.name: {str(r.metrics.get("task")) for r in side.runs} for side in (a, b)}
    every = set().union(*tasks.values())
    if len(every) > 1:
        raise NnmlError(f"A ({a.name}) and B ({b.name}) are runs of different tasks ({' vs '.join(sorted(every))}); "
                        f"compare runs of one task")
    for side in (a, b):
        for m in metrics:
            missing = [r.name for r in side.runs if not G.is_number(r.metrics.get(m))]
            if missing:
                have = sorted(k for k in side.runs[0].metrics if "/" in k and G.is_number(side.runs[0].metrics[k]))
                raise NnmlError(f"{m} is not a metric of {side.name} ({missing[0]}); its metrics: {', '.join(have)}")


def points(metric: str) -> bool:
    """The metric is a share in [0, 1], shown in points (x100); beam search's ``<name>_beam`` as ``<name>``."""
    base = metric.split("/", 1)[-1].removesuffix("_beam")
    return any(base == p or (p.endswith(("@", "/")) and base.startswith(p)) for p in PROPORTIONS)


def compare_metric(a: Side, b: Side, metric: str, n_resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """One metric: a paired test on the two runs' records, or Welch's test over the two configurations' seeds."""
    direction = R.metric_mode(metric, a.runs + b.runs)
    if a.paired and b.paired:
        result = paired(a.runs[0], b.runs[0], metric, n_resamples, seed)
    else:
        result = stats.welch(G.values_of(G.Group({}, a.runs), metric), G.values_of(G.Group({}, b.runs), metric))
        if not (a.paired or b.paired):
            result["note"] = result.get("note") or "over seeds"
    result.update(metric=metric, direction=direction, n_a=len(a.runs), n_b=len(b.runs),
                  verdict=stats.verdict(a.name, b.name, result, metric, direction, points=points(metric)))
    return result


def paired(run_a, run_b, metric: str, n_resamples: int = RESAMPLES, seed: int = 0) -> dict:
    from nnml.run import records as REC

    split, name = metric.split("/", 1) if "/" in metric else ("", metric)
    if split not in ("val", "test"):
        raise NnmlError(f"{metric}: only val/ and test/ metrics have per-sample records; choose one with --metric")
    ra, sa = REC.load(run_a.path, split)
    rb, sb = REC.load(run_b.path, split)
    if sa.get("kind") != sb.get("kind"):
        raise NnmlError(f"A and B keep records of different kinds ({sa.get('kind')} vs {sb.get('kind')}); compare runs "
                        f"of one task")
    why = REC.same_samples(ra, rb)
    if why:
        raise NnmlError(f"no paired test: A and B were not evaluated on the same {split} samples ({why}: another "
                        f"data_seed or dataset?); compare the seeds of each configuration instead (Welch, unpaired)")
    right_a, right_b = REC.correct(sa, ra), REC.correct(sb, rb)
    if name in right_a and name in right_b:
        return stats.mcnemar_exact(right_a[name], right_b[name])
    if name not in REC.metrics(sa, ra):
        raise NnmlError(f"{metric} cannot be recomputed from the per-sample records (a loss, or a metric of the "
                        f"whole run); choose a metric the records give: "
                        f"{', '.join(f'{split}/{k}' for k in REC.metrics(sa, ra))}")

    def value(r):
        return REC.metrics(sa, r)[name]

    return stats.paired_bootstrap(value, ra, rb, n_resamples=n_resamples, seed=seed)


def verdicts(a: Side, b: Side, metrics: list[str], n_resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """``{a, b, n_a, n_b, kind: paired|seeds, comparisons: [result per metric]}``."""
    check_comparable(a, b, metrics)
    comparisons = [compare_metric(a, b, m, n_resamples, seed) for m in metrics]
    return {"a": a.name, "b": b.name, "n_a": len(a.runs), "n_b": len(b.runs),
            "kind": "paired" if a.paired and b.paired else "seeds", "comparisons": comparisons,
            "runs_a": [r.name for r in a.runs], "runs_b": [r.name for r in b.runs]}
