"""dataset=interactions_csv: your own user,item[,rating][,timestamp] table. Oracle: dataset=synthetic_interactions
written out as a CSV with text ids (zero-padded, so they sort as the numbers did) is the same data, split for
split, and trains to the same metrics; nnml recommend takes the file's own ids."""

from __future__ import annotations

import json

import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.recsys import datasets as D
from nnml.tasks.recsys.interactions_csv import interactions_csv
from tests.data.files import invoke, runs, write_csv


def synthetic_csv(path, monkeypatch, **kw):
    """The table dataset=synthetic_interactions builds (seed 42), written as CSV rows u007,m123,rating,time."""
    seen = {}

    def spy(name, users, items, ratings, timestamps, **rest):
        seen.update(users=users, items=items, ratings=ratings, times=timestamps)
        return from_table(name, users, items, ratings, timestamps, **rest)

    from_table = D.from_table
    monkeypatch.setattr(D, "from_table", spy)
    ref = D.synthetic_interactions(42, **kw)
    monkeypatch.setattr(D, "from_table", from_table)
    rows = [[f"u{u:03d}", f"m{i:03d}", int(r), int(t)]
            for u, i, r, t in zip(seen["users"], seen["items"], seen["ratings"], seen["times"])]
    return write_csv(path, ["user", "item", "rating", "timestamp"], rows), ref


@pytest.mark.parametrize("split", ["random", "leave_last_out"])
def test_synthetic_data_as_a_csv_is_the_same_data(tmp_path, monkeypatch, split):
    path, ref = synthetic_csv(tmp_path / "inter.csv", monkeypatch, split=split, feedback="explicit")
    got = interactions_csv(42, path=str(path), split=split, feedback="explicit")
    for s in ("train", "val", "test"):
        a, b = got.interactions(s), ref.interactions(s)
        for field in ("users", "items", "values", "timestamps"):
            assert torch.equal(getattr(a, field), getattr(b, field)), (s, field)
    assert got.meta == ref.meta and got.rating_range == ref.rating_range
    assert got.user_ids[:2] == ["u000", "u001"] and got.user_index("u007") == 7


def test_columns_ids_and_times(tmp_path):
    rows = [["ann", "tea", "2024-05-01"], ["ann", "cake", "2024-05-03T10:00:00"], ["bob", "tea", "2024-05-02"],
            ["bob", "coffee", "2024-04-30"], ["cy", "tea", "2024-05-05"], ["cy", "cake", "2024-05-04"]] * 3
    path = write_csv(tmp_path / "log.tsv", ["who", "what", "when"], rows, sep="\t")
    d = interactions_csv(0, path=str(path), user="who", item="what", timestamp="when", split="random",
                         val_fraction=0.2, test_fraction=0.2)
    assert d.user_ids == ["ann", "bob", "cy"] and d.item_ids == ["cake", "coffee", "tea"]
    assert d.feedback == "implicit" and float(d.train.values.max()) == 1.0  # no rating column: every row counts 1
    with pytest.raises(NnmlError, match="dataset.feedback=explicit needs ratings"):
        interactions_csv(0, path=str(path), user="who", item="what", feedback="explicit")
    with pytest.raises(NnmlError, match="dataset.user=user is not a column .* its columns: who, what, when"):
        interactions_csv(0, path=str(path))
    bad = write_csv(tmp_path / "bad.csv", ["user", "item", "timestamp"], [["a", "x", "1"], ["b", "y", "yesterday"]])
    with pytest.raises(NnmlError, match="bad.csv line 3: the timestamp column 'timestamp' holds 'yesterday'"):
        interactions_csv(0, path=str(bad))


def test_train_and_recommend_with_the_files_ids(tmp_path, monkeypatch):
    """ALS (experiment=recsys) on the CSV: the synthetic data's documented test precision@10, 0.4445."""
    synthetic_csv(tmp_path / "inter.csv", monkeypatch)
    code, out, err, crash = invoke(["train", "experiment=recsys", "dataset=interactions_csv",
                                    "dataset.path=inter.csv", "trainer.device=cpu", "trainer.num_threads=1",
                                    "logger=none"], tmp_path)
    assert code == 0 and crash is None, err[-3000:]
    m = json.loads((runs(tmp_path)[-1] / "metrics.json").read_text())
    assert m["test/precision@10"] == pytest.approx(0.4445, abs=5e-5)
    code, out, err, crash = invoke(["recommend", runs(tmp_path)[-1], "--user", "u007", "--k", "3", "--json"],
                                   tmp_path)
    assert code == 0 and crash is None, err
    recs = [json.loads(line) for line in out.splitlines() if '"recommended"' in line]
    assert len(recs) == 3 and all(r["item"].startswith("m") for r in recs)
    code, out, err, crash = invoke(["recommend", runs(tmp_path)[-1], "--user", "u999"], tmp_path)
    assert code == 2 and "--user u999 is not a user" in err and "u000..u399" in err
