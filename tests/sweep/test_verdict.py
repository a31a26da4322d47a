"""Seed sweeps aggregated per configuration and ``nnml compare A B`` verdicts, on run folders written here (saved
config, metrics.json, per-sample records), against scipy.stats and statsmodels computed from the same numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as ss
import yaml
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

# final test/acc per (optimizer, seed): adam and adamw close, sgd clearly lower, rmsprop noisy
ACC = {"adam": [0.978, 0.981, 0.975, 0.983, 0.979], "adamw": [0.977, 0.982, 0.976, 0.980, 0.978],
       "sgd": [0.962, 0.966, 0.958, 0.965, 0.961], "rmsprop": [0.990, 0.940, 0.985, 0.950, 0.975]}
LR = {"adam": 0.001, "adamw": 0.001, "sgd": 0.1, "rmsprop": 0.001}


def _records(seed: int, quality: float, n: int = 300, data_seed: int = 42) -> dict:
    """Classification records of n test samples: the targets follow data_seed, the predictions the seed."""
    target = np.random.default_rng(data_seed).integers(0, 3, n)
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(n) < quality, target, (target + rng.integers(1, 3, n)) % 3)
    probs = np.full((n, 3), 0.1, np.float32)
    probs[np.arange(n), pred] = 0.8
    return {"index": np.arange(n), "target": target, "pred": pred, "probs": probs}


def make_run(folder: Path, optimizer: str, seed: int, acc: float, records: dict | None = None, task: str = "auto",
             data_seed: int = 42, monitor: str = "val/acc") -> Path:
    from nnml.run import records as REC
    from nnml.tasks.supervised.records import classification_metrics

    folder.mkdir(parents=True)
    (folder / ".hydra").mkdir()
    cfg = {"seed": seed, "data_seed": data_seed, "task": task,
           "optimizer": {"_target_": f"torch.optim.{optimizer}", "lr": LR.get(optimizer, 0.01)},
           "trainer": {"max_epochs": 3}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {
        "runtime": {"choices": {"optimizer": optimizer}},
        "overrides": {"task": [f"optimizer={optimizer}", f"seed={seed}"]}}}))
    metrics = {"val/acc": acc + 0.001, "test/acc": acc, "val/loss": 1 - acc, "test/loss": 1 - acc, "monitor": monitor,
               "task": task, "directions": {"acc": "max", "f1": "max", "loss": "min"}}
    if records is not None:
        REC.save(folder, "test", records, {"kind": "classification"})
        metrics.update({f"test/{k}": v for k, v in classification_metrics(records).items()})
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def seed_sweep(tmp_path) -> Path:
    sweep = tmp_path / "sweep"
    for opt, accs in ACC.items():
        for seed, acc in enumerate(accs):
            make_run(sweep / f"optimizer={opt},seed={seed}", opt, seed, acc)
    return sweep


def _cli(*args, code: int = 0) -> str:
    from typer.testing import CliRunner

    from nnml.cli import app

    result = CliRunner().invoke(app, list(map(str, args)))
    assert result.exit_code == code, result.output
    return result.output


# ---------------------------------------------------------------------------------------------- aggregation
def test_summary_is_one_row_per_configuration_with_t_intervals_and_holm(seed_sweep):
    from nnml.sweep.summary import summarize

    result = summarize(seed_sweep)
    assert result["replicated"] and result["configs"] == 4 and result["jobs"] == 20
    with open(seed_sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    means = {o: np.mean(v) for o, v in ACC.items()}
    # ranked by the mean of the monitored metric (val/acc = test/acc + 0.001 here)
    assert [r["optimizer"] for r in rows] == sorted(ACC, key=lambda o: -means[o])
    best = rows[0]["optimizer"]
    others = [o for o in (r["optimizer"] for r in rows) if o != best]
    p_raw = [ss.ttest_ind(ACC[o], ACC[best], equal_var=False).pvalue for o in others]
    p_holm = dict(zip(others, multipletests(p_raw, method="holm")[1]))
    for r in rows:
        v = np.array(ACC[r["optimizer"]])
        lo, hi = ss.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=ss.sem(v))
        assert r["n"] == "5" and r["seeds"] == "0 1 2 3 4"
        assert float(r["test/acc_mean"]) == pytest.approx(v.mean(), rel=1e-12)
        assert float(r["test/acc_std"]) == pytest.approx(v.std(ddof=1), rel=1e-12)
        assert (float(r["test/acc_ci_low"]), float(r["test/acc_ci_high"])) == pytest.approx((lo, hi), rel=1e-12)
        if r["optimizer"] == best:
            assert r["test/acc_vs_best"] == "best" and r["test/acc_p_holm"] == ""
        else:
            assert float(r["test/acc_p_holm"]) == pytest.approx(p_holm[r["optimizer"]], rel=1e-10)
            want = "indistinguishable" if p_holm[r["optimizer"]] >= 0.05 else "worse"
            assert r["test/acc_vs_best"] == want
    status = {r["optimizer"]: r["test/acc_vs_best"] for r in rows}
    assert status["sgd"] == "worse" and status["adamw"] == "indistinguishable"  # the oracle's answer, by eye too
    # per-seed job folders stay, listed one row per job in jobs.csv
    with open(seed_sweep / "jobs.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 20
    md = (seed_sweep / "summary.md").read_text().splitlines()
    assert md[0].startswith("| rank | optimizer | optimizer.lr | n | val/acc | val/acc 95% CI |")
    assert len([line for line in md if line.startswith("| ")]) == 5 and "Holm" in md[-1]


def test_compare_on_a_seed_sweep_aggregates_and_per_run_does_not(seed_sweep, tmp_path):
    rows = json.loads(_cli("compare", seed_sweep, "-f", "json", "-m", "test/acc"))
    assert [r["n"] for r in rows] == [5] * 4 and rows[0]["test/acc_vs_best"] == "best"
    assert rows[0]["test/acc_mean"] == pytest.approx(max(np.mean(v) for v in ACC.values()))
    per_run = json.loads(_cli("compare", seed_sweep, "-f", "json", "--per-run"))
    assert len(per_run) == 20
    table = _cli("compare", seed_sweep)
    assert "20 runs in 4 configurations, by mean val/acc" in table and "indistinguishable" in table
    assert "Holm" in table


def test_welch_verdict_between_two_configurations_of_a_sweep(seed_sweep):
    out = json.loads(_cli("compare", seed_sweep, "--a", "optimizer=adam", "--b", "optimizer=sgd", "-m", "test/acc",
                          "-f", "json"))
    (c,) = out["comparisons"]
    t = ss.ttest_ind(ACC["adam"], ACC["sgd"], equal_var=False)
    ci = t.confidence_interval(0.95)
    assert out["kind"] == "seeds" and out["n_a"] == out["n_b"] == 5 and c["test"] == "Welch t"
    assert c["diff"] == pytest.approx(np.mean(ACC["adam"]) - np.mean(ACC["sgd"]), rel=1e-12)
    assert (c["ci_low"], c["ci_high"], c["p_value"]) == pytest.approx((ci.low, ci.high, t.pvalue), rel=1e-10)
    assert c["verdict"].startswith("optimizer=adam \u2212 optimizer=sgd on test/acc = +1.68 points, 95% CI [+1.22, +2.14], p < 0.001")
    assert c["verdict"].endswith("optimizer=adam is better")
    text = _cli("compare", seed_sweep, "--a", "optimizer=adam", "--b", "optimizer=adamw", "-m", "test/acc")
    assert "within noise" in text and "Welch" in text


def test_selectors_that_do_not_name_one_configuration_are_one_line(seed_sweep):
    out = _cli("compare", seed_sweep, "--a", "optimizer=adam", code=2)
    assert "--a and --b go together" in out
    out = _cli("compare", seed_sweep, "--a", "optimizer=adam", "--b", "optimizer=lion", code=2)
    assert "no run has optimizer=lion" in out and "adamw" in out
    out = _cli("compare", seed_sweep, "--a", "seed=0", "--b", "seed=1", code=2)
    assert "selects 4 configurations" in out
    out = _cli("compare", seed_sweep, "--a", "optimiser=adam", "--b", "optimizer=sgd", code=2)
    assert "optimiser is not a config key" in out and "Traceback" not in out


# ---------------------------------------------------------------------------------------------- paired
def test_paired_verdict_between_two_runs_is_mcnemar_and_bootstrap(tmp_path):
    ra, rb = _records(1, 0.86), _records(2, 0.80)
    a = make_run(tmp_path / "a", "adam", 0, 0.0, ra)
    b = make_run(tmp_path / "b", "sgd", 0, 0.0, rb)
    out = json.loads(_cli("compare", a, b, "-m", "test/acc", "-m", "test/f1", "-f", "json", "--resamples", "999"))
    assert out["kind"] == "paired"
    acc, f1 = out["comparisons"]
    right_a, right_b = ra["pred"] == ra["target"], rb["pred"] == rb["target"]
    table = [[np.sum(right_a & right_b), np.sum(right_a & ~right_b)], [np.sum(~right_a & right_b),
                                                                        np.sum(~right_a & ~right_b)]]
    assert acc["test"] == "McNemar exact"
    assert acc["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert acc["diff"] == pytest.approx(right_a.mean() - right_b.mean(), abs=1e-15)
    assert acc["ci_low"] < acc["diff"] < acc["ci_high"]

    from nnml.tasks.supervised.records import classification_metrics

    def stat(i):
        return (classification_metrics({k: v[i] for k, v in ra.items()})["f1"]
                - classification_metrics({k: v[i] for k, v in rb.items()})["f1"])

    ref = ss.bootstrap((np.arange(300),), stat, paired=True, vectorized=False, n_resamples=999,
                       rng=np.random.default_rng(0))
    assert f1["test"] == "paired bootstrap"
    assert (f1["ci_low"], f1["ci_high"]) == pytest.approx((ref.confidence_interval.low,
                                                           ref.confidence_interval.high), rel=1e-12)
    dist = ref.bootstrap_distribution
    assert f1["p_value"] == (1 + np.sum(np.abs(dist - f1["diff"]) >= abs(f1["diff"]))) / (len(dist) + 1)
    text = _cli("compare", a, b, "-m", "test/acc", "--resamples", "199")
    assert "paired tests on the same" in text and "McNemar exact" in text
    assert "optimizer=adam \u2212 optimizer=sgd on test/acc = +6.7 points" in text  # the group names the side


def test_paired_test_on_other_samples_is_refused_and_seeds_still_compare(tmp_path):
    a = make_run(tmp_path / "a", "adam", 0, 0.0, _records(1, 0.86))
    b = make_run(tmp_path / "b", "sgd", 0, 0.0, _records(2, 0.80, data_seed=7), data_seed=7)
    out = _cli("compare", a, b, "-m", "test/acc", code=2)
    assert "no paired test" in out and "not evaluated on the same test samples" in out and "data_seed" in out
    assert len(out.strip().splitlines()) <= 3 and "Traceback" not in out


def test_runs_of_different_tasks_or_without_the_metric_are_one_line(tmp_path):
    a = make_run(tmp_path / "a", "adam", 0, 0.9, _records(1, 0.9))
    b = make_run(tmp_path / "b", "adam", 1, 0.8, task="segment")  # records of no kind in common with a's
    out = _cli("compare", a, b, code=2)
    assert "different tasks" in out and "Traceback" not in out
    c = make_run(tmp_path / "c", "sgd", 0, 0.9, _records(3, 0.9))
    out = _cli("compare", a, c, "-m", "test/miou", code=2)
    assert "test/miou is not a metric of" in out and "test/acc" in out


# ---------------------------------------------------------------------------------------------- pictures
def test_line_styles_keep_every_line_apart():
    from nnml.sweep.compare import line_style

    styles = [line_style(i) for i in range(12)]
    keys = {(tuple(s["color"]), str(s["linestyle"]), s["marker"]) for s in styles}
    assert len(keys) == 12
    # neighbours differ in all three, so two equal curves still show as two lines
    for s, t in zip(styles, styles[1:]):
        assert s["color"] != t["color"] and s["linestyle"] != t["linestyle"] and s["marker"] != t["marker"]


def test_mean_curves_are_t_intervals_per_epoch(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from nnml.sweep import runs as R
    from nnml.sweep.compare import mean_curves

    values = {0: [1.0, 0.8, 0.6], 1: [1.2, 0.7, 0.5], 2: [0.9, 0.75, 0.55]}
    runs = []
    for seed, ys in values.items():
        folder = make_run(tmp_path / f"seed={seed}", "adam", seed, 0.9)
        with SummaryWriter(str(folder)) as w:
            for epoch, y in enumerate(ys, 1):
                w.add_scalar("train/loss", y, epoch)
        runs.append(R.load_run(folder))
    xs, means, lows, highs, n = mean_curves(runs, ["train/loss"])["train/loss"]
    assert xs == [1, 2, 3] and n == 3
    for i in range(3):
        v = np.array([values[s][i] for s in values])
        lo, hi = ss.t.interval(0.95, 2, loc=v.mean(), scale=ss.sem(v))
        assert (means[i], lows[i], highs[i]) == pytest.approx((v.mean(), lo, hi), rel=1e-6)


def test_python_api_aggregates_and_gives_the_verdict(seed_sweep, tmp_path):
    import nnml

    table = nnml.compare(seed_sweep, metric="test/acc")
    assert list(table["n"]) == [5] * 4 and list(table["optimizer"])[0] == "adam"
    assert len(nnml.compare(seed_sweep, per_run=True)) == 20
    for side, opt in (("A", "adam"), ("B", "sgd")):
        for seed, acc in enumerate(ACC[opt]):
            make_run(tmp_path / side / f"seed={seed}", opt, seed, acc)
    out = nnml.verdict(tmp_path / "A", tmp_path / "B", metric="test/acc")
    t = ss.ttest_ind(ACC["adam"], ACC["sgd"], equal_var=False)
    (c,) = out["comparisons"]
    assert out["kind"] == "seeds" and c["p_value"] == pytest.approx(t.pvalue, rel=1e-10)
    assert c["verdict"].endswith("is better")


@pytest.mark.slow
def test_a_real_seed_sweep_end_to_end(tmp_path):
    """nnml train -m optimizer=sgd,adam +seeds=3: one row per optimizer in the printed table and summary.csv, the
    seeds' runs on one split (their test records hold the same samples), the sweep's band charts, and a paired
    verdict between two jobs equal to statsmodels' McNemar on their records."""
    from nnml.run import records as REC
    from tests.conftest import TINY, cli

    proc = cli(["train", "-m", "dataset=moons", "optimizer=sgd,adam", "+seeds=3", *TINY], cwd=tmp_path,
                   timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "train" / "multiruns").iterdir())
    assert "Sweep of 6 jobs: 2 configurations x 3 seeds" in proc.stdout and "No path found" not in proc.stderr
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["optimizer"] for r in rows) == ["adam", "sgd"] and {r["n"] for r in rows} == {"3"}
    for r in rows:
        accs = [json.loads((sweep / f"optimizer={r['optimizer']},seed={s}" / "metrics.json").read_text())["test/acc"]
                for s in range(3)]
        assert float(r["test/acc_mean"]) == pytest.approx(np.mean(accs), rel=1e-12)
        assert float(r["test/acc_std"]) == pytest.approx(np.std(accs, ddof=1), rel=1e-12)
    first = REC.load(sweep / "optimizer=sgd,seed=0", "test")[0]
    for job in sweep.glob("optimizer=*"):
        assert REC.same_samples(first, REC.load(job, "test")[0]) is None  # data_seed: one test set
    assert {p.name for p in (sweep / "means").iterdir()} == {"optimizer=adam, lr=0.001",
                                                               "optimizer=sgd, lr=0.01"}

    a, b = sweep / "optimizer=adam,seed=0", sweep / "optimizer=sgd,seed=0"
    out = json.loads(_cli("compare", a, b, "-m", "test/acc", "-f", "json"))
    ra, rb = REC.load(a, "test")[0], REC.load(b, "test")[0]
    right_a, right_b = ra["pred"] == ra["target"], rb["pred"] == rb["target"]
    table = [[np.sum(right_a & right_b), np.sum(right_a & ~right_b)], [np.sum(~right_a & right_b),
                                                                        np.sum(~right_a & ~right_b)]]
    (c,) = out["comparisons"]
    assert out["kind"] == "paired" and c["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert c["a"] == json.loads((a / "metrics.json").read_text())["test/acc"]


def test_shares_are_in_points_and_other_units_stay():
    from nnml.sweep.verdict import points

    assert all(points(m) for m in ("test/acc", "val/f1", "test/exact_beam", "test/ndcg@10", "test/miou",
                                   "test/iou/cat", "test/hit_rate@5", "test/knn_acc"))
    assert not any(points(m) for m in ("test/bleu", "test/bleu_beam", "test/chrf", "test/nelbo", "test/r2",
                                       "test/mse", "test/loss"))


def test_sweep_bands_in_tensorboard_are_the_seeds_mean_and_t_interval(tmp_path):
    """The sweep's margin charts: one TensorBoard run per configuration under means/, its scalars the mean and the
    95% t interval over the seeds per epoch (numpy, scipy), the layout and the one HParams experiment in the sweep
    folder's own event file, dated before the jobs' events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2
    from torch.utils.tensorboard import SummaryWriter

    from nnml.sweep.summary import summarize, write_board

    sweep = tmp_path / "sweep"
    curves = {}
    for opt in ("adam", "sgd"):
        for seed in range(3):
            folder = make_run(sweep / f"optimizer={opt},seed={seed}", opt, seed, ACC[opt][seed])
            ys = np.random.default_rng(seed + (10 if opt == "sgd" else 0)).random(4)
            curves.setdefault(opt, []).append(ys)
            with SummaryWriter(str(folder)) as w:
                for epoch, y in enumerate(ys, 1):
                    w.add_scalar("train/loss", 1.0 + y, epoch)
                    w.add_scalar("val/acc", y, epoch)
    assert write_board(summarize(sweep))
    for opt, lr in (("adam", 0.001), ("sgd", 0.1)):
        acc = EventAccumulator(str(sweep / "means" / f"optimizer={opt}, lr={lr}"))
        acc.Reload()
        mean = [e.value for e in acc.Scalars("sweep/val/acc/mean")]
        lower = [e.value for e in acc.Scalars("sweep/val/acc/lower")]
        upper = [e.value for e in acc.Scalars("sweep/val/acc/upper")]
        values = np.array(curves[opt])
        lo, hi = ss.t.interval(0.95, 2, loc=values.mean(0), scale=ss.sem(values, axis=0))
        np.testing.assert_allclose(mean, values.mean(0), rtol=1e-6)
        np.testing.assert_allclose(lower, lo, rtol=1e-5)
        np.testing.assert_allclose(upper, hi, rtol=1e-5)
        assert [e.step for e in acc.Scalars("sweep/val/acc/mean")] == [1, 2, 3, 4]
    own = EventAccumulator(str(sweep))
    own.Reload()
    layout = layout_pb2.Layout.FromString(own.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    charts = layout.category[0].chart  # one margin chart per curve the jobs logged (no val/loss here)
    assert [c.title for c in charts] == ["train/loss", "val/acc"]
    assert charts[1].margin.series[0].lower == "sweep/val/acc/lower"
    exp = plugin_data_pb2.HParamsPluginData.FromString(own.PluginTagToContent("hparams")["_hparams_/experiment"])
    assert [h.name for h in exp.experiment.hparam_infos] == ["optimizer", "optimizer.lr", "seed"]
    jobs_start = min(float(p.name.split(".")[3]) for p in sweep.glob("optimizer=*/events.out.tfevents.*"))
    assert own.FirstEventTimestamp() < jobs_start
