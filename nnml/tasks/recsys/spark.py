"""Handing a split to Spark MLlib's ALS and its factors back to nnml's metrics, for data beyond one machine.

nnml does not distribute ALS itself: Spark's ``pyspark.ml.recommendation.ALS`` (block-partitioned ALS with
implicit-feedback confidence, the same Hu-Koren-Volinsky model) is the tool for that. What nnml provides is the
same split and the same metrics on both sides:

- :func:`export_split` writes the train/val/test interactions of a dataset config (the split nnml itself trains
  on, chosen by the seed) as CSV files ``user,item,rating`` with nnml's contiguous integer ids (what Spark's ALS
  needs), plus ``users.csv`` / ``items.csv`` mapping those ids back to the raw ones;
- :func:`read_spark_factors` reads ``model.userFactors`` / ``model.itemFactors`` written by Spark as JSON lines
  (``{"id": 3, "features": [...]}``, one ``part-*`` file per partition);
- :func:`evaluate_factors` ranks with those factors exactly as ``task=recommendation`` does (training items, and
  for test validation items, excluded) and returns the same metric names.

docs/homework6.md ("Spark MLlib") shows the whole round trip. MovieLens' licence allows research and teaching
use and forbids redistribution: an export is for your own cluster, not for sharing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from nnml.errors import NnmlError
from nnml.tasks.recsys.metrics import ranking_metrics


def export_split(data, out_dir) -> dict[str, Path]:
    """Write ``train.csv``, ``val.csv``, ``test.csv``, ``users.csv``, ``items.csv`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in ("train", "val", "test"):
        s = data.interactions(split)
        table = np.stack([s.users.numpy(), s.items.numpy(), s.values.numpy()], 1)
        paths[split] = out / f"{split}.csv"
        np.savetxt(paths[split], table, fmt=["%d", "%d", "%g"], delimiter=",", header="user,item,rating",
                   comments="")
    for name, ids in (("users", data.user_ids), ("items", data.item_ids)):
        paths[name] = out / f"{name}.csv"
        lines = ["index,raw_id"] + [f"{i},{raw}" for i, raw in enumerate(ids)]
        paths[name].write_text("\n".join(lines) + "\n")
    return paths


def read_spark_factors(folder, count: int) -> torch.Tensor:
    """A (count, rank) float32 matrix from Spark's JSON-lines factor files (rows Spark never saw stay 0)."""
    folder = Path(folder)
    files = sorted(folder.glob("part-*")) if folder.is_dir() else [folder]
    rows = []
    for f in files:
        for line in f.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                rows.append((int(rec["id"]), rec["features"]))
    if not rows:
        raise NnmlError(f"{folder} holds no factors: write them in Spark with model.userFactors.write.json(PATH)")
    rank = len(rows[0][1])
    out = torch.zeros(count, rank)
    for i, feats in rows:
        if not 0 <= i < count:
            raise NnmlError(f"{folder}: factor id {i} is outside 0..{count - 1}; export and import the same split")
        out[i] = torch.tensor(feats, dtype=torch.float32)
    return out


def evaluate_factors(data, user_factors: torch.Tensor, item_factors: torch.Tensor, split: str = "test",
                     ks=(10,)) -> dict[str, float]:
    """nnml's ranking metrics of the scores ``user_factors @ item_factors.T`` on ``split``."""
    exclude = data.train if split == "val" or not len(data.val) else data.train.concat(data.val)
    return ranking_metrics(lambda u: user_factors[u] @ item_factors.T, data.interactions(split).rows("user"),
                           exclude.rows("user"), ks)
