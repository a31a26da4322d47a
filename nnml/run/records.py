"""A run's per-sample records: what ``predictions/val.npz`` and ``predictions/test.npz`` hold, how each task's
metrics are recomputed from them, and the intervals of a single run's metrics.

At the end of a run the loop evaluates val and test on the best weights with ``ctx.recording`` set; a task with
records (:class:`nnml.tasks.capabilities.Records`) keeps them while it computes its metrics, and :func:`save`
writes them with their spec, ``{"kind": KIND, **parameters}``, which names the function that recomputes the
metrics (:func:`metrics`; the formats are in each track's ``records.py``):

==============  =================================================  ===============================  ==============
kind            tasks                                              metrics                          per-sample 0/1
==============  =================================================  ===============================  ==============
classification  supervised, text classification, fine-tune, distill  acc, f1                       acc
regression      supervised on regression data                      mse, mae, r2                     -
segmentation    segmentation                                       pixel_acc, miou, mdice (per      -
                                                                   class on test)
translation     seq2seq (greedy; ``beam/`` keys: beam search)      bleu, chrf, exact (+ ``_beam``)  exact
tagging         token classification                               precision, recall, f1, f1_T,     -
                                                                   token_acc
ranking         recommendation (one row per user)                  precision/recall/map/ndcg/       hit_rate@k
                                                                   hit_rate/coverage@k, rmse, mae
vae             VAE                                                nelbo, rec, kl, iw_nll, loss     -
probe           contrastive, autoencoder (the linear probe, kNN)   probe_acc, knn_acc               both
==============  =================================================  ===============================  ==============

Losses are not in the records (their per-sample values are not kept) and a GAN has none (its Frechet distance is
a statistic of a whole sample set). The files are NumPy ``.npz`` archives read with ``allow_pickle=False``: a
folder from elsewhere is data.

Intervals of one run (:func:`intervals`): a metric that is the share of samples a model gets right (the last
column) gets the Wilson score interval; every other metric recomputed from records gets a percentile bootstrap
interval over its samples (:func:`nnml.stats.bootstrap_intervals`, :data:`RESAMPLES` resamples: seconds at most
for the test splits of nnml's datasets). Both describe the test-set noise only: another seed moves a metric too
(compare seeds with ``nnml train +seeds=N``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from nnml.errors import NnmlError

SPEC_KEY = "__spec__"
#: bootstrap resamples for a single run's intervals (each one recomputes every metric once)
RESAMPLES = 2000
CONFIDENCE = 0.95


# ---------------------------------------------------------------------------------------------- kinds
def _classification(spec, r):
    from nnml.tasks.supervised.records import classification_metrics

    out = classification_metrics(r)
    out.pop("loss", None)
    return out


def _regression(spec, r):
    from nnml.tasks.supervised.records import regression_metrics

    out = regression_metrics(r)
    out.pop("loss", None)
    return out


def _segmentation(spec, r):
    from nnml.tasks.segmentation.records import metrics_from_records

    out = metrics_from_records(r, spec.get("class_names"), bool(spec.get("per_class", False)))
    out.pop("loss", None)
    return out


def _translation(spec, r):
    from nnml.tasks.text.records import translation_metrics

    out = translation_metrics(r)
    beam = {k[len("beam/"):]: r[k] for k in r if k.startswith("beam/")}
    if beam:
        out.update({f"{k}_beam": v for k, v in translation_metrics(beam).items()})
    return out


def _tagging(spec, r):
    from nnml.tasks.text.records import tagging_metrics

    return tagging_metrics(r)


def _ranking(spec, r):
    from nnml.tasks.recsys.records import ranking_from_records, ratings_from_records

    out = ranking_from_records(r, int(spec["num_items"]))
    if "ratings" in r:
        out.update(ratings_from_records(r))
    return out


def _vae(spec, r):
    from nnml.tasks.generative.records import vae_metrics

    return vae_metrics(r, float(spec.get("beta", 1.0)))


def _probe(spec, r):
    from nnml.tasks.representation.records import probe_metrics

    return probe_metrics(r)


KINDS = {"classification": _classification, "regression": _regression, "segmentation": _segmentation,
         "translation": _translation, "tagging": _tagging, "ranking": _ranking, "vae": _vae, "probe": _probe}


def _kind(spec: dict) -> str:
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in KINDS:
        raise NnmlError(f"records of kind {kind!r} are not known to this nnml; known kinds: {', '.join(KINDS)}")
    return kind


def metrics(spec: dict, records) -> dict[str, float]:
    """The metrics (no split prefix) recomputed from ``records`` (all of them, or any subset of rows)."""
    return KINDS[_kind(spec)](spec, records)


def correct(spec: dict, records) -> dict[str, np.ndarray]:
    """``{metric: 0/1 per sample}`` for the metrics that are the share of samples a model gets right (their
    intervals are Wilson's, their paired test McNemar's)."""
    kind = _kind(spec)
    if kind == "classification":
        return {"acc": np.asarray(records["pred"]) == np.asarray(records["target"])}
    if kind == "translation":
        out = {"exact": np.asarray(records["exact"]).astype(bool)}
        if "beam/exact" in records:
            out["exact_beam"] = np.asarray(records["beam/exact"]).astype(bool)
        return out
    if kind == "ranking":
        return {k: np.asarray(records[k]).astype(bool) for k in records if k.startswith("hit_rate@")}
    if kind == "probe":
        t = np.asarray(records["target"])
        return {"probe_acc": np.asarray(records["probe_pred"]) == t, "knn_acc": np.asarray(records["knn_pred"]) == t}
    return {}


def same_samples(a: dict, b: dict) -> str | None:
    """Why records ``a`` and ``b`` do not hold the same samples in the same order (None when they do): their
    lengths, ``index``/``user`` and targets are compared."""
    from nnml.stats import records_length

    na, nb = records_length(a), records_length(b)
    if na != nb:
        return f"A has {na} samples, B has {nb}"
    for key in ("index", "user", "target", "relevant"):
        if key in a and key in b and not np.array_equal(np.asarray(a[key]), np.asarray(b[key])):
            what = {"index": "their sample positions", "user": "their users", "target": "their targets",
                    "relevant": "the users' held-out items"}[key]
            return f"{what} differ"
    return None


# ---------------------------------------------------------------------------------------------- files
def path_of(run_dir, split: str) -> Path:
    from nnml.config.runfolder import RunFolder

    return RunFolder(run_dir).predictions(split)


def save(run_dir, split: str, records: dict, spec: dict) -> Path:
    """Write ``predictions/<split>.npz`` (atomically): the records and their spec."""
    from nnml.files import atomic_write

    _kind(spec)
    path = path_of(run_dir, split)
    arrays = {k: np.asarray(v) for k, v in records.items()}
    arrays[SPEC_KEY] = np.asarray(json.dumps(spec))

    def write(f):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        f.write(buf.getvalue())

    atomic_write(path, write)
    return path


def load(run_dir, split: str) -> tuple[dict, dict]:
    """``(records, spec)`` of a run's split; one clear line when the run has none."""
    path = path_of(run_dir, split)
    if not path.is_file():
        raise NnmlError(f"{Path(run_dir).name} has no per-sample records ({path.relative_to(Path(run_dir))}): it was "
                        f"trained before nnml kept them, or its task keeps none (a GAN); compare seeds instead")
    try:
        with np.load(path, allow_pickle=False) as f:
            records = {k: f[k] for k in f.files if k != SPEC_KEY}
            spec = json.loads(str(f[SPEC_KEY])) if SPEC_KEY in f.files else None
    except (OSError, ValueError, KeyError) as e:
        raise NnmlError(f"{path} is not a records file nnml can read ({type(e).__name__}: {e})") from None
    _kind(spec)
    return records, spec


# ---------------------------------------------------------------------------------------------- intervals
def intervals(spec: dict, records: dict, split: str, n_resamples: int = RESAMPLES, seed: int = 0,
              confidence: float = CONFIDENCE) -> tuple[dict, dict]:
    """``({"split/metric": [low, high]}, {"split/metric": how})``: Wilson for shares of samples right, a
    percentile bootstrap over samples for the rest."""
    from nnml import stats

    n = stats.records_length(records)
    out, how = {}, {}
    if n < 2:
        return out, how
    binary = correct(spec, records)
    for name, right in binary.items():
        lo, hi = stats.wilson_interval(int(np.sum(right)), n, confidence)
        out[f"{split}/{name}"] = [lo, hi]
        how[f"{split}/{name}"] = f"Wilson, n = {n}"
    boot = stats.bootstrap_intervals(lambda r: {k: v for k, v in metrics(spec, r).items() if k not in binary},
                                     records, n_resamples=n_resamples, seed=seed, confidence=confidence)
    for name, (lo, hi) in boot.items():
        out[f"{split}/{name}"] = [lo, hi]
        how[f"{split}/{name}"] = f"percentile bootstrap, {n_resamples} resamples of n = {n}"
    return out, how
