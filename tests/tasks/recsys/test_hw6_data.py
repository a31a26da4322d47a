"""Interaction data: splits (random, leave-last-out, per-user holdout), feedback and thresholds, synthetic data,
MovieLens-100K read from recbole's wheel without importing recbole, and the GroupLens zip loader with its
download and MD5 check exercised on small zip files the tests write."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.recsys import movielens
from nnml.tasks.recsys.datasets import synthetic_interactions
from nnml.tasks.recsys.interactions import Interactions
from nnml.tasks.recsys.splits import split, to_feedback


def _table(n_users=30, per_user=10, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(50, per_user, replace=False) for _ in range(n_users)])
    return Interactions.from_arrays(users, items, rng.integers(1, 6, len(users)), rng.permutation(len(users)),
                                    num_users=n_users, num_items=50)


def _keys(s: Interactions):
    return set(zip(s.users.tolist(), s.items.tolist()))


@pytest.mark.parametrize("how", ["random", "leave_last_out", "user_holdout"])
def test_splits_partition_the_interactions_and_follow_the_seed(how):
    t = _table()
    a = split(t, how, seed=1, val_fraction=0.1, test_fraction=0.2)
    b = split(t, how, seed=1, val_fraction=0.1, test_fraction=0.2)
    c = split(t, how, seed=2, val_fraction=0.1, test_fraction=0.2)
    tr, va, te = map(_keys, a)
    assert tr | va | te == _keys(t) and not (tr & va or tr & te or va & te)
    assert all(torch.equal(x.users, y.users) and torch.equal(x.items, y.items) for x, y in zip(a, b))
    if how != "leave_last_out":
        assert _keys(c[2]) != te
    if how == "random":
        assert (len(a[0]), len(a[1]), len(a[2])) == (210, 30, 60)
    if how == "user_holdout":  # every user holds out the same share
        assert torch.bincount(a[2].users, minlength=30).tolist() == [2] * 30
        assert torch.bincount(a[1].users, minlength=30).tolist() == [1] * 30


def test_leave_last_out_holds_out_each_users_latest():
    t = _table()
    tr, va, te = split(t, "leave_last_out", seed=0, val_fraction=0.1, test_fraction=0.2)
    for u in range(30):
        times = t.timestamps[t.users == u].sort().values
        assert te.timestamps[te.users == u].tolist() == [int(times[-1])]
        assert va.timestamps[va.users == u].tolist() == [int(times[-2])]
        assert int(tr.timestamps[tr.users == u].max()) < int(times[-2])
    # Users with too little history keep it all for training.
    short = Interactions.from_arrays([0, 0, 1], [0, 1, 2], num_users=2, num_items=3)
    tr, va, te = split(short, "leave_last_out", seed=0, val_fraction=0.1, test_fraction=0.1)
    assert (len(tr), len(va), len(te)) == (3, 0, 0)


def test_feedback_threshold_and_values():
    t = _table()
    imp = to_feedback(t, "implicit", threshold=4, implicit_value="binary")
    assert len(imp) == int((t.values >= 4).sum()) and bool((imp.values == 1).all())
    assert torch.equal(to_feedback(t, "implicit", None, "rating").values, t.values)
    assert torch.equal(to_feedback(t, "explicit", None).values, t.values)
    with pytest.raises(NnmlError) as e:
        to_feedback(t, "implicit", threshold=6)
    msg = str(e.value)
    assert "dataset.threshold=6" in msg and "empty training split" in msg and "1-5" in msg and "\n" not in msg
    with pytest.raises(NnmlError, match="dataset.split=randon is not valid .did you mean 'random'"):
        split(t, "randon", seed=0, val_fraction=0.1, test_fraction=0.2)
    with pytest.raises(NnmlError, match="leaves nothing to train on"):
        split(t, "random", seed=0, val_fraction=0.5, test_fraction=0.5)


def test_synthetic_interactions_are_seeded_low_rank_with_popularity_skew():
    a = synthetic_interactions(seed=0)
    b = synthetic_interactions(seed=0)
    assert torch.equal(a.x_train, b.x_train) and a.meta["num_users"] == 400
    assert 280 <= a.meta["num_items"] <= 300, "the catalogue is the items someone interacted with"
    assert a.task == "interactions" and a.x_train.shape[1] == 2
    assert not torch.equal(a.x_train, synthetic_interactions(seed=1).x_train)
    counts = torch.bincount(torch.cat([a.train.items, a.val.items, a.test.items])).sort(
        descending=True).values.double()
    assert counts[:30].sum() > counts[-140:].sum(), "the top tenth of the items outweighs the bottom half"
    explicit = synthetic_interactions(seed=0, feedback="explicit")
    assert explicit.rating_range == (1.0, 5.0) and set(explicit.y_train.unique().tolist()) <= {1, 2, 3, 4, 5}


def test_movielens_100k_from_recbole_without_importing_it(tmp_path):
    code = ("import sys; from nnml.tasks.recsys.movielens import movielens_100k as m; d = m(seed=0);"
            "print(len(d.train) + len(d.val) + len(d.test), d.meta['num_users'], d.meta['num_items']);"
            "print('recbole' in sys.modules); print(d.item_titles[d.item_index(1)], d.item_genres[d.item_index(1)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("MovieLens data: F. Maxwell Harper and Joseph A. Konstan")
    assert out.stdout.strip().splitlines() == ["100000 943 1682", "False", "Toy Story (1995) Animation|Children's|Comedy"]
    assert not list(tmp_path.iterdir()), "nothing of the data is written anywhere"


def _zip_100k(path: Path) -> None:
    ratings = "1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t881250951\n2\t30\t1\t881250952\n"
    flags = ["0"] * 19
    items = "".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x|" + "|".join(
        ["0"] * g + ["1"] + flags[g + 1:]) + "\n" for i, g in ((10, 1), (20, 5), (30, 8)))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-100k/u.data", ratings)
        z.writestr("ml-100k/u.item", items.encode("latin-1"))


def _zip_1m(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-1m/ratings.dat", "1::10::5::978300760\n1::20::2::978302109\n3::20::4::978301968\n")
        z.writestr("ml-1m/movies.dat", "10::Toy Story (1995)::Animation|Children's|Comedy\n20::Heat (1995)::"
                                       "Action|Crime|Thriller\n".encode("latin-1"))


@pytest.mark.parametrize("version, writer", [("100k", _zip_100k), ("1m", _zip_1m)])
def test_movielens_zip_downloads_verifies_and_reads(tmp_path, monkeypatch, version, writer):
    server = tmp_path / "server"
    server.mkdir()
    src = server / f"ml-{version}.zip"
    writer(src)
    digest = hashlib.md5(src.read_bytes()).hexdigest()
    monkeypatch.setitem(movielens.ZIPS, version, {"url": src.as_uri(), "md5": digest, "file": src.name})
    root = tmp_path / "data"
    with pytest.raises(NnmlError, match="is missing and dataset.download=false"):
        movielens.movielens(seed=0, version=version, root=str(root), download=False)
    d = movielens.movielens(seed=0, version=version, root=str(root), download=True, feedback="explicit",
                            val_fraction=0.0, test_fraction=0.25)
    assert (root / src.name).read_bytes() == src.read_bytes(), "downloaded through the real code path"
    assert d.user_ids == ([1, 2] if version == "100k" else [1, 3]) and d.acknowledgement
    if version == "100k":
        assert d.item_titles == ["Movie 10 (1995)", "Movie 20 (1995)", "Movie 30 (1995)"]
        assert d.item_genres == ["Action", "Comedy", "Drama"]
    else:
        assert d.item_titles == ["Toy Story (1995)", "Heat (1995)"] and d.item_genres[1] == "Action|Crime|Thriller"
    # A corrupt download is refused by its checksum, in one line.
    (root / src.name).write_bytes(b"not a zip")
    with pytest.raises(NnmlError) as e:
        movielens.movielens(seed=0, version=version, root=str(root))
    assert f"expected {digest}" in str(e.value) and "delete it so that it is downloaded again" in str(e.value)
    with pytest.raises(NnmlError, match="dataset.version=10m is not valid"):
        movielens.ensure_zip("10m", root)


def test_zip_without_the_expected_files_is_named(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("other.txt", "x")
    with pytest.raises(NnmlError, match="lacks ml-100k/u.data"):
        movielens.read_zip(path, "100k")


def test_spark_handoff_exports_the_split_and_scores_imported_factors_like_nnml(tmp_path):
    """The export is the split nnml trains on; factors written as Spark writes them (JSON lines in part files,
    rows in any order) give the same metrics as nnml's own ranking of those factors."""
    import json

    from nnml.tasks.recsys.als import ALS
    from nnml.tasks.recsys.metrics import ranking_metrics
    from nnml.tasks.recsys.spark import evaluate_factors, export_split, read_spark_factors

    d = synthetic_interactions(seed=0, num_users=60, num_items=40, interactions_per_user=10)
    paths = export_split(d, tmp_path / "export")
    train = np.loadtxt(paths["train"], delimiter=",", skiprows=1)
    assert train.shape == (len(d.train), 3)
    assert set(map(tuple, train[:, :2].astype(int).tolist())) == _keys(d.train)
    assert paths["users"].read_text().splitlines()[:2] == ["index,raw_id", "0,0"]

    nu, ni = d.meta["num_users"], d.meta["num_items"]
    torch.manual_seed(0)
    m = ALS(nu, ni, factors=4)
    m.prepare(d.train)
    m.iteration()
    for name, mat in (("userFactors", m.user_factors), ("itemFactors", m.item_factors)):
        folder = tmp_path / name
        folder.mkdir()
        order = np.random.default_rng(1).permutation(len(mat))
        for part, chunk in enumerate(np.array_split(order, 3)):
            (folder / f"part-0000{part}.json").write_text("".join(
                json.dumps({"id": int(i), "features": mat[i].tolist()}) + "\n" for i in chunk))
    U = read_spark_factors(tmp_path / "userFactors", nu)
    V = read_spark_factors(tmp_path / "itemFactors", ni)
    assert torch.equal(U, m.user_factors) and torch.equal(V, m.item_factors)
    ours = ranking_metrics(m.scores, d.test.rows("user"), d.train.concat(d.val).rows("user"))
    assert evaluate_factors(d, U, V) == ours
    with pytest.raises(NnmlError, match="outside 0..9"):
        read_spark_factors(tmp_path / "userFactors", 10)
