"""nnml.stats against independent implementations: scipy.stats, statsmodels, a published worked example and
formulas written out here; plus the edge cases (no discordant pairs, one seed, identical groups)."""

import math

import numpy as np
import pytest
import scipy.stats as ss
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW
from statsmodels.stats.weightstats import ttest_ind as sm_ttest_ind

from nnml import stats as S
from nnml.errors import NnmlError


# ---------------------------------------------------------------------------------------------- Wilson, t
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_statsmodels(confidence):
    for n in (1, 2, 7, 50, 1000):
        for x in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            lo, hi = S.wilson_interval(x, n, confidence)
            want = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
            assert (lo, hi) == pytest.approx(want, abs=1e-12), (x, n)


def test_t_interval_matches_scipy_and_statsmodels():
    values = np.random.default_rng(0).normal(0.9, 0.02, size=5)
    r = S.t_interval(values, 0.9)
    lo, hi = ss.t.interval(0.9, len(values) - 1, loc=values.mean(), scale=ss.sem(values))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-12)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(DescrStatsW(values).tconfint_mean(0.1), rel=1e-12)
    assert r["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert r["n"] == 5 and r["mean"] == pytest.approx(values.mean())


def test_t_interval_of_one_value_has_none_and_equal_values_a_point():
    one = S.t_interval([0.91])
    assert one["n"] == 1 and one["mean"] == 0.91
    assert one["std"] is None and one["ci_low"] is None and one["ci_high"] is None
    same = S.t_interval([0.5, 0.5, 0.5])
    assert same["std"] == 0.0 and same["ci_low"] == same["ci_high"] == 0.5


# ---------------------------------------------------------------------------------------------- Welch
@pytest.mark.parametrize("seed", range(4))
def test_welch_matches_scipy_and_statsmodels(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.80, 0.01 * (seed + 1), size=3 + seed)
    b = rng.normal(0.79, 0.02, size=5)
    r = S.welch(a, b, confidence=0.9)
    t = ss.ttest_ind(a, b, equal_var=False)
    ci = t.confidence_interval(0.9)
    assert r["p_value"] == pytest.approx(t.pvalue, rel=1e-10)
    assert r["dof"] == pytest.approx(t.df, rel=1e-12)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
    _, p_sm, dof_sm = sm_ttest_ind(a, b, usevar="unequal")
    assert (r["p_value"], r["dof"]) == pytest.approx((p_sm, dof_sm), rel=1e-10)
    assert r["diff"] == pytest.approx(a.mean() - b.mean()) and r["test"] == "Welch t"


def test_welch_identical_groups_one_seed_and_no_spread():
    same = S.welch([0.8, 0.82, 0.81], [0.8, 0.82, 0.81])
    assert same["diff"] == 0 and same["p_value"] == pytest.approx(1.0)
    assert same["ci_low"] == pytest.approx(-same["ci_high"]) and same["ci_low"] < 0
    one = S.welch([0.8], [0.7, 0.71])
    assert one["diff"] == pytest.approx(0.095) and one["p_value"] is None and one["ci_low"] is None
    assert "one run" in one["note"]
    flat = S.welch([0.5, 0.5], [0.5, 0.5, 0.5])
    assert (flat["p_value"], flat["ci_low"], flat["ci_high"]) == (1.0, 0.0, 0.0)
    apart = S.welch([0.6, 0.6], [0.5, 0.5])
    assert apart["p_value"] == 0.0 and apart["ci_low"] == apart["ci_high"] == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------------- McNemar + Newcombe
def _table_to_arrays(n11, n10, n01, n00):
    a = np.array([1] * n11 + [1] * n10 + [0] * n01 + [0] * n00)
    b = np.array([1] * n11 + [0] * n10 + [1] * n01 + [0] * n00)
    perm = np.random.default_rng(n11 + 7 * n10).permutation(a.size)  # order must not matter
    return a[perm], b[perm]


@pytest.mark.parametrize("table", [(59, 6, 16, 80), (1, 1, 7, 12), (30, 0, 3, 10), (5, 4, 4, 5), (0, 9, 1, 0),
                                   (400, 31, 19, 50)])
def test_mcnemar_p_matches_statsmodels_and_scipy_binomtest(table):
    n11, n10, n01, n00 = table
    r = S.mcnemar_exact(*_table_to_arrays(*table))
    assert (r["n11"], r["n10"], r["n01"], r["n00"]) == table
    # statsmodels' table: rows A right/wrong, columns B right/wrong
    sm = mcnemar([[n11, n10], [n01, n00]], exact=True)
    assert r["p_value"] == pytest.approx(sm.pvalue, rel=1e-12)
    assert r["p_value"] == pytest.approx(ss.binomtest(n10, n10 + n01, 0.5).pvalue, rel=1e-12)
    assert r["diff"] == pytest.approx((n10 - n01) / sum(table))
    assert r["a"] - r["b"] == pytest.approx(r["diff"])


def test_newcombe_interval_reproduces_the_published_example():
    # Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, ch. 8: complete response
    # before and after consolidation therapy (Cavo et al. 2012), 161 patients: 59 both, 6 only before, 16 only
    # after, 80 neither. Newcombe square-and-add interval for the difference: -0.0621 (-0.1186 to -0.0046).
    r = S.mcnemar_exact(*_table_to_arrays(59, 6, 16, 80))
    assert round(r["diff"], 4) == -0.0621
    assert (round(r["ci_low"], 4), round(r["ci_high"], 4)) == (-0.1186, -0.0046)


def _newcombe_from_the_paper(a, b, c, d, z):
    """Newcombe (1998), Stat. Med. 17:2635, method 10, written out from the paper's notation: a both successes,
    b first only, c second only, d neither; Wilson limits from statsmodels."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    conf = ss.norm.cdf(z) * 2 - 1
    l1, u1 = proportion_confint(a + b, n, alpha=1 - conf, method="wilson")
    l2, u2 = proportion_confint(a + c, n, alpha=1 - conf, method="wilson")
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    if denom == 0:
        phi = 0.0
    else:
        num = a * d - b * c
        num = max(num - n / 2, 0.0) if num > 0 else num  # the paper's continuity correction of phi
        phi = num / math.sqrt(denom)
    delta = math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    eps = math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return p1 - p2 - delta, p1 - p2 + eps


def test_newcombe_interval_matches_the_formula_on_random_tables():
    rng = np.random.default_rng(3)
    for _ in range(200):
        table = tuple(int(v) for v in rng.multinomial(rng.integers(1, 300), rng.dirichlet([1, 0.3, 0.3, 1])))
        for conf in (0.9, 0.95):
            got = S.newcombe_paired_interval(*table, conf)
            want = _newcombe_from_the_paper(*table, ss.norm.ppf(0.5 + conf / 2))
            assert got == pytest.approx(want, abs=1e-12), table


def test_newcombe_interval_covers_the_true_difference():
    """Coverage of the 95% interval over 2000 simulated test sets of 200 paired samples (true cell probabilities
    0.70/0.08/0.05/0.17: accuracies 0.78 and 0.75). Newcombe reports coverage near nominal; the Monte-Carlo
    standard error of the estimate here is sqrt(0.95 * 0.05 / 2000) = 0.005, so 0.93..0.97 is generous."""
    rng = np.random.default_rng(11)
    probs = np.array([0.70, 0.08, 0.05, 0.17])
    truth = probs[1] - probs[2]
    tables = rng.multinomial(200, probs, size=2000)
    covered = [lo <= truth <= hi for lo, hi in (S.newcombe_paired_interval(*map(int, t)) for t in tables)]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_mcnemar_with_no_discordant_pairs():
    preds = np.array([1, 1, 0, 1, 0, 1, 1, 1, 1, 0] * 10)
    r = S.mcnemar_exact(preds, preds)
    assert r["diff"] == 0 and r["p_value"] == 1.0 and r["n01"] == r["n10"] == 0
    assert r["ci_low"] < 0 < r["ci_high"] and r["ci_low"] == pytest.approx(-r["ci_high"])
    everything_right = S.mcnemar_exact(np.ones(50), np.ones(50))
    assert everything_right["p_value"] == 1.0 and everything_right["ci_low"] == pytest.approx(
        -everything_right["ci_high"])


# ---------------------------------------------------------------------------------------------- paired bootstrap
def _macro_f1(records):
    t, p = records["target"], records["pred"]
    k = 4
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(float)
    tp = np.diag(cm)
    prec = tp / np.maximum(cm.sum(0), 1)
    rec = tp / np.maximum(cm.sum(1), 1)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(k), where=prec + rec > 0)
    present = (cm.sum(0) + cm.sum(1)) > 0
    return float(f1[present].mean())


def _classifier_records(seed, n=80, quality=0.7):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < quality, target, rng.integers(0, 4, n))
    return {"index": np.arange(n), "target": target, "pred": pred}


def _centred_p(dist, observed):
    return (1 + np.sum(np.abs(dist - observed) >= abs(observed))) / (len(dist) + 1)


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_paired_bootstrap_equals_scipy_on_the_same_resamples(method):
    """A per-sample statistic: scipy resamples the pairs (a_i, b_i) itself."""
    rng = np.random.default_rng(2)
    a, b = (rng.random(60) < 0.8).astype(float), (rng.random(60) < 0.7).astype(float)
    r = S.paired_bootstrap(np.mean, a, b, n_resamples=999, seed=5, method=method)
    ref = ss.bootstrap((a, b), lambda x, y: np.mean(x) - np.mean(y), paired=True, vectorized=False, n_resamples=999,
                       method=method, rng=np.random.default_rng(5))
    np.testing.assert_allclose([r["ci_low"], r["ci_high"]], [ref.confidence_interval.low,
                                                             ref.confidence_interval.high], rtol=1e-12, atol=1e-15)
    assert r["p_value"] == _centred_p(ref.bootstrap_distribution, a.mean() - b.mean())
    assert r["ci_method"] == method and r["diff"] == pytest.approx(a.mean() - b.mean())


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_paired_bootstrap_of_a_record_metric_equals_scipy(method, monkeypatch):
    """Macro F1 from (target, pred) records; scipy resamples the sample indices. A tiny block size makes the
    resamples come in many blocks: the draws must not change."""
    a, b = _classifier_records(0, quality=0.75), _classifier_records(0, quality=0.6)
    b["target"] = a["target"]
    monkeypatch.setattr(S, "_BLOCK", 7 * 80 + 3)
    r = S.paired_bootstrap(_macro_f1, a, b, n_resamples=500, seed=9, method=method)

    def stat(i):
        return _macro_f1(S.take(a, i)) - _macro_f1(S.take(b, i))

    ref = ss.bootstrap((np.arange(80),), stat, paired=True, vectorized=False, n_resamples=500, method=method,
                       rng=np.random.default_rng(9))
    np.testing.assert_allclose([r["ci_low"], r["ci_high"]], [ref.confidence_interval.low,
                                                             ref.confidence_interval.high], rtol=1e-12, atol=1e-15)
    assert r["p_value"] == _centred_p(ref.bootstrap_distribution, r["diff"])
    assert r["a"] == _macro_f1(a) and r["b"] == _macro_f1(b)


def test_paired_bootstrap_p_agrees_with_the_paired_t_test_for_a_mean():
    """For a mean difference over n = 400 samples the bootstrap distribution is close to normal, so its p-value
    approaches the paired t test's. Differences come from the t vs normal tails (~0.002 at n = 400), the bootstrap
    variance's 1/n vs 1/(n-1) (~0.001) and Monte-Carlo error (sd <= 0.005 at 9999 resamples): 0.02 is generous."""
    rng = np.random.default_rng(4)
    a = rng.normal(0.0, 1.0, 400)
    for shift in (0.05, 0.1, 0.15):
        b = a - shift + rng.normal(0, 1.0, 400)
        r = S.paired_bootstrap(np.mean, a, b, n_resamples=9999, seed=1, method="percentile")
        assert r["p_value"] == pytest.approx(ss.ttest_rel(a, b).pvalue, abs=0.02), shift


def test_paired_bootstrap_metric_sees_every_record_of_the_resample():
    """The metric gets a mapping of the resampled rows (indexed as read): keys, membership and values as take's."""
    a, b = _classifier_records(2), _classifier_records(3)
    seen = []

    def metric(r):
        assert sorted(r) == sorted(a) and "pred" in r and len(r) == 3
        seen.append(r["index"])
        return float(np.mean(r["pred"] == r["target"]))

    S.paired_bootstrap(metric, a, b, n_resamples=5, seed=1, method="percentile")
    draws = np.random.default_rng(1).integers(0, 80, (5, 80))
    # calls: A and B on everything, then A and B on each resample
    assert all(np.array_equal(seen[2 + 2 * i], d) and np.array_equal(seen[3 + 2 * i], d) for i, d in enumerate(draws))


def test_paired_bootstrap_of_identical_systems():
    a = _classifier_records(1)
    r = S.paired_bootstrap(_macro_f1, a, dict(a), n_resamples=200, seed=0)
    assert (r["diff"], r["ci_low"], r["ci_high"], r["p_value"]) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_refuses_records_of_different_samples():
    a, b = _classifier_records(0), _classifier_records(1)
    b["index"] = b["index"][::-1].copy()
    with pytest.raises(NnmlError, match="same order"):
        S.paired_bootstrap(_macro_f1, a, b, n_resamples=10)
    with pytest.raises(NnmlError, match="A has 80, B has 79"):
        S.paired_bootstrap(_macro_f1, a, S.take(b, slice(0, 79)), n_resamples=10)
    with pytest.raises(NnmlError, match="different lengths"):
        S.paired_bootstrap(_macro_f1, {**a, "pred": a["pred"][:5]}, a, n_resamples=10)
    with pytest.raises(NnmlError, match="method=normal"):
        S.paired_bootstrap(_macro_f1, a, a, method="normal")


def test_concat_records_joins_batches_in_order():
    a = _classifier_records(0)
    parts = [S.take(a, slice(i, i + 30)) for i in range(0, 80, 30)]
    joined = S.concat_records(parts)
    assert all(np.array_equal(joined[k], a[k]) for k in a)
    with pytest.raises(NnmlError, match="keys"):
        S.concat_records([parts[0], {"index": parts[1]["index"]}])


# ---------------------------------------------------------------------------------------------- groups of seeds
def test_aggregate_rows_are_t_intervals():
    groups = {"adam": [0.91, 0.92, 0.905], "sgd": [0.89], "rmsprop": [0.9, 0.93]}
    rows = S.aggregate(groups)
    assert [r["config"] for r in rows] == list(groups)
    for row, values in zip(rows, groups.values()):
        want = S.t_interval(values)
        assert {k: row[k] for k in want} == want
    assert rows[1]["ci_low"] is None


def test_indistinguishable_from_best_uses_welch_and_holm():
    rng = np.random.default_rng(0)
    groups = {"a": rng.normal(0.90, 0.01, 5), "b": rng.normal(0.899, 0.01, 5), "c": rng.normal(0.85, 0.01, 5),
              "d": rng.normal(0.88, 0.02, 5), "e": [0.95]}
    rows = {r["config"]: r for r in S.indistinguishable_from_best(groups)}
    best = max("abcd", key=lambda k: np.mean(groups[k]))
    # 'e' has the highest mean from a single run: it is the best, and nothing can be tested against one value
    assert rows["e"]["status"] == "best" and all(rows[k]["status"] == "untested" for k in "abcd")
    del groups["e"]
    rows = {r["config"]: r for r in S.indistinguishable_from_best(groups, alpha=0.05)}
    assert rows[best]["status"] == "best"
    others = [k for k in groups if k != best]
    raw = [ss.ttest_ind(groups[k], groups[best], equal_var=False).pvalue for k in others]
    reject, adjusted, *_ = multipletests(raw, alpha=0.05, method="holm")
    for k, p, adj, rej in zip(others, raw, adjusted, reject):
        assert rows[k]["p_value"] == pytest.approx(p, rel=1e-10)
        assert rows[k]["p_holm"] == pytest.approx(adj, rel=1e-10)
        assert rows[k]["status"] == ("worse" if rej else "indistinguishable")
    assert rows["c"]["status"] == "worse" and rows["b"]["status"] == "indistinguishable"


def test_indistinguishable_from_best_direction_ties_and_identical_groups():
    same = [0.3, 0.31, 0.29]
    rows = S.indistinguishable_from_best({"x": same, "y": list(same), "z": [0.5, 0.52, 0.51]}, direction="min")
    status = {r["config"]: r["status"] for r in rows}
    assert status == {"x": "best", "y": "indistinguishable", "z": "worse"}
    with pytest.raises(NnmlError, match="direction=up"):
        S.indistinguishable_from_best({"x": same}, direction="up")


def test_holm_matches_statsmodels():
    p = np.random.default_rng(5).random(12) ** 3
    assert S.holm(p) == pytest.approx(multipletests(p, method="holm")[1], rel=1e-12)


# ---------------------------------------------------------------------------------------------- the sentence
def _result(diff, lo, hi, p, test="McNemar exact", **extra):
    return {"diff": diff, "ci_low": lo, "ci_high": hi, "p_value": p, "test": test, "confidence": 0.95, **extra}


def test_verdict_sentences():
    within = S.verdict("adam", "sgd", _result(0.009, -0.003, 0.021, 0.14), "val/acc")
    assert within == "adam − sgd on val/acc = +0.9 points, 95% CI [−0.3, +2.1], p = 0.14 (McNemar exact): within noise"
    better = S.verdict("adam", "sgd", _result(-0.0123, -0.0201, -0.0042, 0.0004, "Welch t"), "val/loss",
                       direction="min", points=False)
    assert better == ("adam − sgd on val/loss = −0.0123, 95% CI [−0.0201, −0.0042], p < 0.001 (Welch t): "
                      "adam is better")
    worse = S.verdict("a", "b", _result(-0.05, -0.08, -0.02, 0.003, "paired bootstrap"), "test/miou")
    assert worse.endswith("= −5.0 points, 95% CI [−8.0, −2.0], p = 0.003 (paired bootstrap): b is better")
    one = S.verdict("a", "b", S.welch([0.8], [0.79, 0.78]), "val/acc")
    assert one == "a − b on val/acc = +1.5 points: cannot tell (one run on a side: no interval, no test)"
    flat = S.verdict("a", "b", S.mcnemar_exact(np.ones(10), np.ones(10)), "test/acc")
    assert "= 0 points, 95% CI [−28, +28]" in flat and flat.endswith("p = 1 (McNemar exact): within noise")


def test_bad_input_is_one_clear_line():
    cases = [
        (lambda: S.wilson_interval(5, 3), "successes=5, n=3"),
        (lambda: S.t_interval([]), "values is empty"),
        (lambda: S.t_interval([1.0, float("nan")]), "finite"),
        (lambda: S.welch([1, 2], [1, 2], confidence=95), "confidence=95"),
        (lambda: S.mcnemar_exact([1, 0, 2], [1, 0, 1]), "correct_a holds 2"),
        (lambda: S.mcnemar_exact([1, 0], [1, 0, 1]), "A has 2, B has 3"),
        (lambda: S.paired_bootstrap(np.mean, np.ones(5), np.ones(5), n_resamples=0), "n_resamples=0"),
        (lambda: S.verdict("a", "b", _result(0, -1, 1, 1), "m", direction="best"), "direction=best"),
    ]
    for call, text in cases:
        with pytest.raises(NnmlError, match=text) as info:
            call()
        assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------- one run's intervals
def test_bootstrap_intervals_equal_scipy_percentile_on_the_same_resamples(monkeypatch):
    """Every metric of one set of records from one call per resample; each interval equals scipy's percentile
    bootstrap of that metric alone with the same seed, drawn in one block or many."""
    rec = _classifier_records(4, n=90)
    monkeypatch.setattr(S, "_BLOCK", 11 * 90 + 5)

    def both(r):
        return {"f1": _macro_f1(r), "acc": float(np.mean(r["target"] == r["pred"])), "nan": float("nan")}

    got = S.bootstrap_intervals(both, rec, n_resamples=700, seed=3)
    assert set(got) == {"f1", "acc"}  # a metric that is not finite on the whole set gets none
    for name in ("f1", "acc"):
        ref = ss.bootstrap((np.arange(90),), lambda i, name=name: both(S.take(rec, i))[name], vectorized=False,
                           n_resamples=700, method="percentile", rng=np.random.default_rng(3))
        np.testing.assert_allclose(got[name], [ref.confidence_interval.low, ref.confidence_interval.high],
                                   rtol=1e-12, atol=1e-15)
