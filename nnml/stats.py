"""Statistics for comparisons you can trust: intervals over seeds, paired tests on the same test samples, and the
sentence that says what a comparison shows.

Two kinds of noise decide whether "A beats B" is real:

- seed noise (initialisation, data order): run each configuration with several seeds and compare the groups of
  final metrics with :func:`welch` (a t interval per group: :func:`t_interval`, :func:`aggregate`; which
  configurations cannot be told apart from the best one: :func:`indistinguishable_from_best`);
- test-set noise (which samples happened to be in the test split): compare two trained models on the same samples
  with a paired test, :func:`mcnemar_exact` for per-sample 0/1 correctness (accuracy) and
  :func:`paired_bootstrap` for any metric that can be recomputed from per-sample records (F1, mIoU, BLEU, NDCG...).

Every test returns a dict with the same keys: ``a`` and ``b`` (the two values compared), ``diff`` (``a - b``),
``ci_low``/``ci_high`` (the ``confidence`` interval of the difference, None when there is none), ``p_value``
(two-sided; None when there is none), ``test`` (its name) and what it counted. :func:`verdict` turns one into a
sentence; "within noise" means the interval contains 0.

Records: a dict of NumPy arrays of equal length along axis 0, one row per test sample (per image, sentence, user),
from which a metric can be recomputed exactly on any subset of rows; each track documents its own in
``nnml/tasks/<track>/records.py``. :func:`take` subsets them, :func:`concat_records` joins per-batch records.

Numerical choices, each checked against an independent implementation in ``tests/test_stats.py``:

- Wilson score interval for a proportion (statsmodels ``proportion_confint(method="wilson")``);
- t interval of a mean, ``std`` with ddof=1 (scipy ``t.interval``); one value gives no interval;
- Welch's unequal-variance t test and interval (scipy ``ttest_ind(equal_var=False)``);
- McNemar's exact test: a two-sided binomial test on the discordant pairs (statsmodels ``mcnemar(exact=True)``,
  scipy ``binomtest``), with Newcombe's hybrid score interval for the difference of paired proportions (Newcombe
  1998, Stat. Med. 17:2635, method 10; the worked example of Fagerland, Lydersen & Laake 2017, ch. 8);
- the paired bootstrap draws the same resamples as scipy ``bootstrap(..., paired=True)`` given the same seed, and
  its BCa and percentile intervals equal scipy's on them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special
from scipy import stats as sps

from nnml.errors import NnmlError

Records = Mapping[str, np.ndarray]

# Resample indices are drawn in blocks of about this many entries: 9999 resamples of a 10k-sample test split would
# otherwise hold an 800 MB index matrix. NumPy's Generator gives the same stream in blocks as in one call (the
# tests compare with scipy, which draws in one call).
_BLOCK = 2_000_000


# ---------------------------------------------------------------------------------------------- checks
def _confidence(confidence: float) -> float:
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise NnmlError(f"confidence={confidence} is not valid; choose a number between 0 and 1 (e.g. 0.95)")
    return c


def _values(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise NnmlError(f"{name} is empty; give at least one value")
    if not np.isfinite(a).all():
        raise NnmlError(f"{name} holds {a[~np.isfinite(a)][0]}; every value must be a finite number")
    return a


def _binary(values, name: str) -> np.ndarray:
    a = np.asarray(values).reshape(-1)
    if a.size == 0:
        raise NnmlError(f"{name} is empty; give one 0/1 correctness value per test sample")
    if not np.isin(a, (0, 1)).all():
        raise NnmlError(f"{name} holds {a[~np.isin(a, (0, 1))][0].item()!r}; give 0/1 (or False/True) per test sample")
    return a.astype(bool)


# ---------------------------------------------------------------------------------------------- records
def records_length(records: Records | np.ndarray, name: str = "records") -> int:
    """The number of rows of ``records`` (a dict of arrays of equal length, or one array); one clear error if the
    lengths differ."""
    if isinstance(records, np.ndarray):
        return int(records.shape[0])
    if not isinstance(records, Mapping) or not records:
        raise NnmlError(f"{name} must be a dict of per-sample arrays (name -> array); got {type(records).__name__}")
    lengths = {k: int(np.shape(v)[0]) if np.ndim(v) else -1 for k, v in records.items()}
    if len(set(lengths.values())) != 1 or -1 in lengths.values():
        raise NnmlError(f"{name} has arrays of different lengths ({lengths}); give one row per sample in each")
    return next(iter(lengths.values()))


def take(records: Records | np.ndarray, idx) -> Any:
    """The rows ``idx`` of every array in ``records`` (or of one array)."""
    if isinstance(records, np.ndarray):
        return records[idx]
    return {k: np.asarray(v)[idx] for k, v in records.items()}


class _Rows(Mapping):
    """Rows ``idx`` of records, each array indexed when first read: a resample costs only the arrays the metric
    reads (a classifier's N x C probabilities are not copied for an F1)."""

    def __init__(self, records: Records, idx):
        self._records, self._idx, self._done = records, idx, {}

    def __getitem__(self, key):
        if key not in self._done:
            self._done[key] = np.asarray(self._records[key])[self._idx]
        return self._done[key]

    def __iter__(self):
        return iter(self._records)

    def __len__(self):
        return len(self._records)


def _rows(records: Records | np.ndarray, idx):
    return records[idx] if isinstance(records, np.ndarray) else _Rows(records, idx)


def concat_records(parts: Sequence[Records]) -> dict[str, np.ndarray]:
    """One records dict from per-batch ones (same keys in each), rows in order."""
    if not parts:
        raise NnmlError("no records to join; evaluate at least one batch")
    keys = list(parts[0])
    for i, p in enumerate(parts):
        if list(p) != keys:
            raise NnmlError(f"records of batch {i} have keys {sorted(p)}; the first batch has {sorted(keys)}")
        records_length(p, f"records of batch {i}")
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in keys}


def _paired_length(a: Records | np.ndarray, b: Records | np.ndarray) -> int:
    na, nb = records_length(a, "records of A"), records_length(b, "records of B")
    if na != nb:
        raise NnmlError(f"a paired test needs the same test samples for A and B; A has {na}, B has {nb}")
    if isinstance(a, Mapping) and isinstance(b, Mapping) and "index" in a and "index" in b:
        if not np.array_equal(np.asarray(a["index"]), np.asarray(b["index"])):
            raise NnmlError("a paired test needs the same test samples in the same order for A and B; their "
                            "'index' records differ")
    return na


# ---------------------------------------------------------------------------------------------- intervals
def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (good near 0 and 1, unlike the Wald one)."""
    c = _confidence(confidence)
    if int(n) != n or n < 1 or int(successes) != successes or not 0 <= successes <= n:
        raise NnmlError(f"successes={successes}, n={n} is not valid; give integers with 0 <= successes <= n, n >= 1")
    z = float(sps.norm.ppf(0.5 + c / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values, confidence: float = 0.95) -> dict:
    """``n``, ``mean``, ``std`` (ddof=1) and the Student t interval ``ci_low``/``ci_high`` of the mean of
    ``values`` (e.g. one final metric per seed). One value gives no spread and no interval: ``std``, ``ci_low`` and
    ``ci_high`` are None. Values that are all equal give the point interval [mean, mean]."""
    c = _confidence(confidence)
    a = _values(values, "values")
    n, mean = a.size, float(a.mean())
    out = {"n": n, "mean": mean, "std": None, "ci_low": None, "ci_high": None, "confidence": c}
    if n < 2:
        return out
    std = float(a.std(ddof=1))
    half = float(sps.t.ppf(0.5 + c / 2, n - 1)) * std / math.sqrt(n)
    out.update(std=std, ci_low=mean - half, ci_high=mean + half)
    return out


# ---------------------------------------------------------------------------------------------- seeds: Welch
def welch(values_a, values_b, confidence: float = 0.95) -> dict:
    """Welch's t test of ``mean(a) - mean(b)`` for two groups of runs (one value per seed), unequal variances.

    Returns ``a``, ``b`` (the means), ``diff``, ``ci_low``, ``ci_high``, ``p_value``, ``dof`` (Welch-Satterthwaite),
    ``n_a``, ``n_b``, ``test="Welch t"``. A group of one value has no variance: no interval and no test (None,
    and ``note`` says why). Both groups without spread (deterministic runs): equal means give p = 1 and the
    interval [0, 0], different means p = 0 and the point interval at the difference."""
    c = _confidence(confidence)
    a, b = _values(values_a, "values of A"), _values(values_b, "values of B")
    na, nb = a.size, b.size
    diff = float(a.mean() - b.mean())
    out = {"a": float(a.mean()), "b": float(b.mean()), "diff": diff, "ci_low": None, "ci_high": None,
           "p_value": None, "dof": None, "n_a": na, "n_b": nb, "confidence": c, "test": "Welch t"}
    if na < 2 or nb < 2:
        out["note"] = "one run on a side: no interval, no test"
        return out
    va, vb = float(a.var(ddof=1)) / na, float(b.var(ddof=1)) / nb
    if va + vb == 0.0:
        out.update(ci_low=diff, ci_high=diff, p_value=1.0 if diff == 0.0 else 0.0,
                   note="no spread in either group")
        return out
    dof = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    se = math.sqrt(va + vb)
    half = float(sps.t.ppf(0.5 + c / 2, dof)) * se
    p = float(2 * sps.t.sf(abs(diff) / se, dof))
    out.update(ci_low=diff - half, ci_high=diff + half, p_value=min(1.0, p), dof=float(dof))
    return out


def aggregate(groups: Mapping[Any, Sequence[float]], confidence: float = 0.95) -> list[dict]:
    """One row per configuration (in the order given): ``config`` and :func:`t_interval` of its values."""
    rows = []
    for key, values in groups.items():
        rows.append({"config": key, **t_interval(_values(values, f"values of {key}"), confidence)})
    return rows


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control, no assumption on dependence)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate(np.minimum(1.0, p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def indistinguishable_from_best(groups: Mapping[Any, Sequence[float]], direction: str = "max",
                                alpha: float = 0.05) -> list[dict]:
    """Which configurations cannot be told apart from the best one, over seeds.

    The best is the configuration with the highest mean (``direction="max"``) or the lowest (``"min"``); on a tie,
    the first given. Every other configuration is compared with it by :func:`welch`; the p-values of these k - 1
    comparisons are Holm-adjusted, so that the chance of calling any configuration "worse" when it is not stays
    below ``alpha`` (the choice of the best itself is not corrected for). One row per configuration, in the order
    given: ``config``, ``n``, ``mean``, ``p_value`` (Welch), ``p_holm`` and ``status``: ``best``,
    ``indistinguishable`` (``p_holm >= alpha``), ``worse``, or ``untested`` (fewer than two values on a side)."""
    if direction not in ("max", "min"):
        raise NnmlError(f"direction={direction} is not valid; choose max or min")
    if not 0.0 < float(alpha) < 1.0:
        raise NnmlError(f"alpha={alpha} is not valid; choose a number between 0 and 1 (e.g. 0.05)")
    if not groups:
        raise NnmlError("no configurations to compare; give at least one")
    values = {k: _values(v, f"values of {k}") for k, v in groups.items()}
    means = {k: float(v.mean()) for k, v in values.items()}
    sign = 1.0 if direction == "max" else -1.0
    best = max(means, key=lambda k: sign * means[k])  # max() keeps the first of equal keys
    rows = {k: {"config": k, "n": int(values[k].size), "mean": means[k], "p_value": None, "p_holm": None,
                "status": "untested"} for k in values}
    rows[best]["status"] = "best"
    tested = []
    for k in values:
        if k == best:
            continue
        r = welch(values[k], values[best])
        if r["p_value"] is not None:
            rows[k]["p_value"] = r["p_value"]
            tested.append(k)
    for k, p in zip(tested, holm([rows[k]["p_value"] for k in tested])):
        rows[k]["p_holm"] = p
        rows[k]["status"] = "indistinguishable" if p >= alpha else "worse"
    return list(rows.values())


# ---------------------------------------------------------------------------------------------- paired: McNemar
def newcombe_paired_interval(n11: int, n10: int, n01: int, n00: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10 of Newcombe 1998) for ``p_a - p_b`` of paired proportions:
    ``n11`` both right, ``n10`` only A right, ``n01`` only B right, ``n00`` both wrong. The Wilson intervals of the
    two proportions are combined with phi, their correlation (continuity-corrected as Newcombe defines it)."""
    n = n11 + n10 + n01 + n00
    p1, p2 = (n11 + n10) / n, (n11 + n01) / n
    l1, u1 = wilson_interval(n11 + n10, n, confidence)
    l2, u2 = wilson_interval(n11 + n01, n, confidence)
    margins = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
    cross = n11 * n00 - n10 * n01
    if margins == 0 or 0 <= cross <= n / 2:
        phi = 0.0
    else:
        phi = (cross - n / 2 if cross > 0 else cross) / math.sqrt(margins)
    d = p1 - p2
    lo = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    hi = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, lo), min(1.0, hi)


def mcnemar_exact(correct_a, correct_b, confidence: float = 0.95) -> dict:
    """Paired comparison of two classifiers' accuracies on the same test samples (``correct_*``: one 0/1 per
    sample, same order).

    ``n10``: samples only A gets right, ``n01``: only B, ``n11`` both, ``n00`` neither. The p-value is McNemar's
    exact test: under "equally good" each discordant sample is a fair coin, so p = min(1, 2 P(Bin(n01 + n10, 1/2)
    <= min(n01, n10))); no discordant sample gives p = 1. The interval of ``diff = acc_a - acc_b`` is Newcombe's
    hybrid score interval (:func:`newcombe_paired_interval`): it contains 0 and is symmetric when A and B agree on
    every sample, since the test set still bounds how much they could disagree."""
    c = _confidence(confidence)
    a, b = _binary(correct_a, "correct_a"), _binary(correct_b, "correct_b")
    if a.size != b.size:
        raise NnmlError(f"a paired test needs the same test samples for A and B; A has {a.size}, B has {b.size}")
    n = a.size
    n11, n10 = int(np.sum(a & b)), int(np.sum(a & ~b))
    n01, n00 = int(np.sum(~a & b)), int(np.sum(~a & ~b))
    discordant = n01 + n10
    p = 1.0 if discordant == 0 else min(1.0, float(2 * sps.binom.cdf(min(n01, n10), discordant, 0.5)))
    lo, hi = newcombe_paired_interval(n11, n10, n01, n00, c)
    return {"a": (n11 + n10) / n, "b": (n11 + n01) / n, "diff": (n10 - n01) / n, "ci_low": lo, "ci_high": hi,
            "p_value": p, "n": n, "n11": n11, "n10": n10, "n01": n01, "n00": n00, "confidence": c,
            "test": "McNemar exact"}


# ---------------------------------------------------------------------------------------------- paired: bootstrap
def paired_bootstrap(metric: Callable[[Any], float], a_records: Records | np.ndarray,
                     b_records: Records | np.ndarray, n_resamples: int = 9999, seed: int = 0,
                     confidence: float = 0.95, method: str = "BCa") -> dict:
    """Paired bootstrap of ``metric(a) - metric(b)`` over test samples.

    ``metric`` maps records (a mapping of arrays, or one array, as given) to a number; ``a_records`` and
    ``b_records`` hold the same samples in the same order (their ``index`` arrays, when both have one, must be
    equal). Each resample draws n sample indices with replacement and evaluates both A and B on the same indices;
    the draws are those of ``scipy.stats.bootstrap(..., paired=True, rng=np.random.default_rng(seed))``.

    Interval: ``method="BCa"`` (bias-corrected and accelerated, scipy's default; the acceleration comes from n
    leave-one-out evaluations) or ``"percentile"``; where BCa is undefined (every leave-one-out value equal) the
    percentile interval is given and ``ci_method`` says so. p-value: the share of resampled differences at least as
    far from the observed one as the observed one is from 0, ``(1 + #{|d* - d| >= |d|}) / (B + 1)`` (the bootstrap
    distribution shifted to the null, two-sided; Davison & Hinkley 1997, eq. 4.11): never below 1 / (B + 1)."""
    c = _confidence(confidence)
    if method.lower() not in ("bca", "percentile"):
        raise NnmlError(f"method={method} is not valid; choose BCa or percentile")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise NnmlError(f"n_resamples={n_resamples} is not valid; choose an integer >= 1 (e.g. 9999)")
    n = _paired_length(a_records, b_records)
    if n < 2:
        raise NnmlError(f"a bootstrap needs at least 2 test samples; got {n}")

    def diff(idx):
        return float(metric(_rows(a_records, idx))) - float(metric(_rows(b_records, idx)))

    value_a, value_b = float(metric(a_records)), float(metric(b_records))
    observed = value_a - value_b
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK // n)
    dist = np.empty(int(n_resamples))
    for start in range(0, dist.size, rows):
        block = rng.integers(0, n, (min(rows, dist.size - start), n))
        dist[start:start + len(block)] = [diff(i) for i in block]

    alpha = (1 - c) / 2
    ci_method = "percentile"
    levels = (alpha, 1 - alpha)
    if method.lower() == "bca" and np.ptp(dist) > 0:
        bca = _bca_levels(diff, n, dist, observed, alpha)
        if bca is None:
            ci_method = "percentile (BCa undefined: every leave-one-out value is equal)"
        else:
            levels, ci_method = bca, "BCa"
    lo, hi = np.quantile(dist, levels)
    p = (1 + int(np.sum(np.abs(dist - observed) >= abs(observed)))) / (dist.size + 1)
    return {"a": value_a, "b": value_b, "diff": observed, "ci_low": float(lo), "ci_high": float(hi),
            "p_value": float(p), "n": n, "n_resamples": int(n_resamples), "seed": seed, "confidence": c,
            "ci_method": ci_method, "test": "paired bootstrap"}


def _bca_levels(diff: Callable, n: int, dist: np.ndarray, observed: float, alpha: float):
    """The two quantile levels of the BCa interval (Efron & Tibshirani 1993, 14.3), as scipy computes them; None
    where the acceleration is undefined."""
    z0 = special.ndtri((np.sum(dist < observed) + np.sum(dist <= observed)) / (2 * dist.size))
    everything = np.arange(n)
    jack = np.array([diff(np.delete(everything, i)) for i in range(n)])
    u = (n - 1) * (jack.mean() - jack)
    den = np.sum(u**2) / n**2
    if den == 0:
        return None
    a_hat = np.sum(u**3) / n**3 / den**1.5 / 6
    z = special.ndtri(alpha)
    return (float(special.ndtr(z0 + (z0 + z) / (1 - a_hat * (z0 + z)))),
            float(special.ndtr(z0 + (z0 - z) / (1 - a_hat * (z0 - z)))))


# ---------------------------------------------------------------------------------------------- one run: intervals
def bootstrap_intervals(metrics: Callable[[Any], Mapping[str, float]], records: Records | np.ndarray,
                        n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict[str, tuple]:
    """Percentile bootstrap intervals of every metric of one model's records (the test-set noise of a single run).

    ``metrics`` maps records to ``{name: value}`` (all of a task's metrics in one call, so a resample is evaluated
    once for all of them). Each resample draws n sample indices with replacement, as :func:`paired_bootstrap` (and
    ``scipy.stats.bootstrap`` with the same seed) does. A metric whose value on all the records is not finite gets
    no interval; a resample where a metric is not finite (a class missing from it) is left out of that metric's
    quantiles. Returns ``{name: (low, high)}``."""
    c = _confidence(confidence)
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise NnmlError(f"n_resamples={n_resamples} is not valid; choose an integer >= 1 (e.g. 2000)")
    n = records_length(records)
    if n < 2:
        raise NnmlError(f"a bootstrap needs at least 2 samples; got {n}")
    full = {k: float(v) for k, v in metrics(records).items()}
    names = [k for k, v in full.items() if math.isfinite(v)]
    dist = np.empty((int(n_resamples), len(names)))
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK // n)
    for start in range(0, len(dist), rows):
        block = rng.integers(0, n, (min(rows, len(dist) - start), n))
        for j, idx in enumerate(block):
            values = metrics(_rows(records, idx))
            dist[start + j] = [float(values.get(k, math.nan)) for k in names]
    alpha = (1 - c) / 2
    out = {}
    for j, name in enumerate(names):
        col = dist[:, j][np.isfinite(dist[:, j])]
        if col.size:
            lo, hi = np.quantile(col, (alpha, 1 - alpha))
            out[name] = (float(lo), float(hi))
    return out


# ---------------------------------------------------------------------------------------------- the sentence
_MINUS = "\u2212"


def _signed(x: float, decimals: int) -> str:
    s = f"{abs(x):.{decimals}f}"
    if float(s) == 0:
        return s
    return ("+" if x > 0 else _MINUS) + s


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def verdict(name_a: str, name_b: str, result: Mapping, metric: str, direction: str = "max",
            points: bool = True) -> str:
    """One sentence for a comparison ``result`` (of :func:`welch`, :func:`mcnemar_exact`, :func:`paired_bootstrap`),
    e.g. ``adam − sgd on val/acc = +0.9 points, 95% CI [−0.3, +2.1], p = 0.14 (McNemar exact): within noise``.

    "within noise": the interval contains 0; otherwise the better one by ``direction`` ("max": higher is better)
    "is better". ``points``: the metric is a proportion, shown x100 in points (accuracy, F1, mIoU); otherwise in its
    own unit. Decimals follow the interval's half-width (two significant digits of it)."""
    if direction not in ("max", "min"):
        raise NnmlError(f"direction={direction} is not valid; choose max or min")
    scale = 100.0 if points else 1.0
    unit = " points" if points else ""
    diff = float(result["diff"]) * scale
    lo, hi = result.get("ci_low"), result.get("ci_high")
    head = f"{name_a} {_MINUS} {name_b} on {metric}"
    if lo is None or hi is None:
        note = result.get("note") or "no interval"
        return f"{head} = {_signed(diff, 1 if points else 3)}{unit}: cannot tell ({note})"
    lo, hi = float(lo) * scale, float(hi) * scale
    width = max(hi - diff, diff - lo)
    size = width if width > 0 else abs(diff)
    decimals = 1 if size == 0 else min(6, max(0, 1 - math.floor(math.log10(size))))
    level = f"{100 * float(result.get('confidence', 0.95)):g}% CI"
    text = f"{head} = {_signed(diff, decimals)}{unit}, {level} [{_signed(lo, decimals)}, {_signed(hi, decimals)}]"
    p = result.get("p_value")
    text += f", {_p_text(float(p))}" if p is not None else ""
    text += f" ({result['test']})" if result.get("test") else ""
    if lo <= 0.0 <= hi:
        return f"{text}: within noise"
    a_better = (diff > 0) == (direction == "max")
    return f"{text}: {name_a if a_better else name_b} is better"
