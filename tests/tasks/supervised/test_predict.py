"""``nnml predict`` on classification and regression runs. The oracle is the restored model itself: the same model
called on the run's own test tensor (``data.x_test``). New inputs written from the raw values of the test rows
(scikit-learn's numbers, the CSV's cells, the PNG files) must become that tensor, and the predicted classes its
argmax (probabilities its softmax, regression values its outputs on the target's scale, computed here from the
raw targets). Bad input is one line naming the file and the line or image, exit code 2."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from tests.data.files import WINE_TARGET, assert_one_line_error, invoke, shape_pngs, wine_csv

TINY = ["trainer.max_epochs=3", "trainer.device=cpu", "trainer.num_threads=1", "logger=none"]


def _train(folder, *overrides):
    import nnml

    run = nnml.train(*overrides, *TINY, f"hydra.run.dir={folder}", quiet=True)
    return run, run.restore()


def _outputs(restored, x):
    model = restored.task.modules["model"]
    with torch.inference_mode():
        return model(x).float()


def _raw_rows(bunch_data, x_test, meta):
    """The raw scikit-learn rows behind the test tensor: each standardized row mapped back and matched to the
    row of the bunch it came from (the split keeps no indices), so the file holds the exact original numbers."""
    st = meta["standardization"]
    back = x_test.reshape(len(x_test), -1).double().numpy() * np.asarray(st["std"]) + np.asarray(st["mean"])
    found = []
    for row in back:
        i = int(np.argmin(np.abs(bunch_data - row).max(1)))
        assert np.abs(bunch_data[i] - row).max() < 1e-3
        found.append(i)
    return found


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("iris") / "run", "dataset=iris")


def test_iris_rows_by_name_by_position_and_typed_predict_what_the_model_says_on_x_test(iris_run, tmp_path):
    from sklearn.datasets import load_iris

    run, restored = iris_run
    data = restored.data
    b = load_iris()
    idx = _raw_rows(b.data, data.x_test, data.meta)
    named = _write(tmp_path / "rows.csv", [*b.feature_names, "species"],
                   [[repr(float(v)) for v in b.data[i]] + [b.target_names[b.target[i]]] for i in idx])
    bare = _write(tmp_path / "bare.csv", None, [[repr(float(v)) for v in b.data[i]] for i in idx])

    from nnml.tasks.supervised.predict import prepare

    x, places, _ = prepare(data, [], {"file": named})
    assert torch.equal(x, data.x_test), "the raw rows become the training input bit for bit"
    assert places[0] == f"{named} line 2"

    out = _outputs(restored, data.x_test)
    want = [data.class_names[i] for i in out.argmax(1).tolist()]
    probs = torch.softmax(out, 1)
    code, stdout, err, crash = invoke(["predict", run.dir, "--file", named, "--json", "--top", "2", "--out",
                                       tmp_path / "preds.csv"], tmp_path)
    assert code == 0 and crash is None, err
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert [r["label"] for r in rows] == want
    for r, p in zip(rows, probs):
        assert r["probability"] == pytest.approx(float(p.max()), abs=1e-6)
        assert list(r["top"]) == [data.class_names[i] for i in p.topk(2).indices.tolist()]
    with open(tmp_path / "preds.csv") as f:
        written = list(csv.DictReader(f))
    assert [w["label"] for w in written] == want
    for w, p in zip(written, probs):  # every class's probability, whatever --top shows
        assert [float(w[f"p_{n}"]) for n in data.class_names] == pytest.approx(p.tolist(), abs=1e-6)

    assert [r["label"] for r in run.predict(file=bare)] == want  # no header: by position
    typed = ",".join(repr(float(v)) for v in b.data[idx[0]])
    assert run.predict(typed)[0]["label"] == want[0]
    frame = __import__("pandas").DataFrame(b.data[idx], columns=b.feature_names)
    assert [r["label"] for r in run.predict(rows=frame)] == want


def test_bad_rows_are_one_line_naming_the_file_and_line(iris_run, tmp_path):
    run, _ = iris_run
    names = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    _write(tmp_path / "typo.csv", ["sepal lenght (cm)", *names[1:]], [["5.1", "3.5", "1.4", "0.2"]])
    assert_one_line_error(["predict", run.dir, "--file", "typo.csv"], tmp_path,
                          "typo.csv line 1: no column 'sepal length (cm)'", "did you mean 'sepal lenght (cm)'")
    _write(tmp_path / "text.csv", names, [["5.1", "3.5", "1.4", "0.2"], ["5.0", "abc", "1.4", "0.2"]])
    assert_one_line_error(["predict", run.dir, "--file", "text.csv"], tmp_path,
                          "text.csv line 3: column 'sepal width (cm)' holds 'abc', which is not a number")
    _write(tmp_path / "empty.csv", names, [["5.1", "", "1.4", "0.2"]])
    assert_one_line_error(["predict", run.dir, "--file", "empty.csv"], tmp_path,
                          "empty.csv line 2: column 'sepal width (cm)' is empty")
    _write(tmp_path / "short.csv", None, [["5.1", "3.5", "1.4", "0.2"], ["5.1", "3.5", "1.4"]])
    assert_one_line_error(["predict", run.dir, "--file", "short.csv"], tmp_path,
                          "short.csv line 2: 3 values, but the model reads 4")
    assert_one_line_error(["predict", run.dir, "5.1,3.5"], tmp_path, "2 values, but the model reads 4")
    assert_one_line_error(["predict", run.dir, "--file", "nothere.csv"], tmp_path, "--file nothere.csv: no such file")
    assert_one_line_error(["predict", run.dir, "5.1,3.5,1.4,0.2", "--top", "0"], tmp_path, "--top 0 is not valid")


def test_diabetes_values_are_on_the_target_scale(tmp_path):
    from sklearn.datasets import load_diabetes

    run, restored = _train(tmp_path / "run", "dataset=diabetes")
    data = restored.data
    b = load_diabetes()
    idx = _raw_rows(b.data, data.x_test, data.meta)
    train_idx = _raw_rows(b.data, data.x_train, data.meta)
    y = b.target[train_idx].astype(np.float32)  # the target scale, from the raw train targets
    mean, std = float(y.mean()), float(y.std())
    file = _write(tmp_path / "rows.csv", b.feature_names, [[repr(float(v)) for v in b.data[i]] for i in idx])
    rows = run.predict(file=file, out=tmp_path / "preds.csv")
    want = _outputs(restored, data.x_test)[:, 0].double() * std + mean
    assert [r["value"] for r in rows] == pytest.approx(want.tolist(), rel=1e-5)
    with open(tmp_path / "preds.csv") as f:
        assert [float(r["value"]) for r in csv.DictReader(f)] == pytest.approx(want.tolist(), rel=1e-5)


def _png(path, a):
    from PIL import Image

    Image.fromarray(np.asarray(a, dtype=np.uint8), "L").save(path)
    return path


def test_digit_images_become_the_test_tensor_and_dark_on_light_is_inverted(tmp_path):
    from sklearn.datasets import load_digits

    run, restored = _train(tmp_path / "run", "dataset=digits")
    data = restored.data
    b = load_digits()
    idx = _raw_rows(b.data, data.x_test, data.meta)[:6]
    files = []
    for n, i in enumerate(idx):
        # 32x32 bitmaps with exactly v lit pixels in each 4x4 block: how the set was made (block counts 0-16)
        big = np.zeros((32, 32), np.uint8)
        for (r, c), v in np.ndenumerate(b.images[i].astype(int)):
            block = np.zeros(16, np.uint8)
            block[:v] = 255
            big[4 * r:4 * r + 4, 4 * c:4 * c + 4] = block.reshape(4, 4)
        files.append(str(_png(tmp_path / f"d{n}.png", big)))
        files.append(str(_png(tmp_path / f"d{n}_paper.png", 255 - big)))  # dark ink on white paper
    rows = run.predict(*files)
    out = _outputs(restored, data.x_test[:len(idx)])
    want = [data.class_names[i] for i in out.argmax(1).tolist()]
    assert [r["label"] for r in rows] == [w for w in want for _ in (0, 1)]
    assert [r["inverted"] for r in rows] == [False, True] * len(idx)
    from nnml.tasks.supervised.predict import prepare

    x, _, _ = prepare(data, files[:2], {})
    torch.testing.assert_close(x, data.x_test[:1].expand(2, -1, -1, -1), rtol=0, atol=1e-6)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    assert_one_line_error(["predict", run.dir, "broken.png"], tmp_path, "broken.png: not a readable image")


def test_mnist_images_become_the_test_tensor(tmp_path, fake_mnist):
    run, restored = _train(tmp_path / "run", "dataset=mnist", f"dataset.root={fake_mnist}")
    from nnml.data.idx import read_idx

    test_images = read_idx(fake_mnist / "mnist" / "t10k-images-idx3-ubyte.gz")
    files = [str(_png(tmp_path / f"m{i}.png", test_images[i])) for i in range(3)]
    from nnml.tasks.supervised.predict import prepare

    x, _, _ = prepare(restored.data, files, {})
    torch.testing.assert_close(x, restored.data.x_test[:3], rtol=0, atol=1e-6)
    out = _outputs(restored, restored.data.x_test[:3])
    assert [r["label"] for r in run.predict(*files)] == [restored.data.class_names[i] for i in out.argmax(1)]


def test_image_folder_and_csv_runs_predict_their_test_split(tmp_path):
    root = tmp_path / "shapes"
    shape_pngs(root / "train", per_class=10)
    shape_pngs(root / "test", per_class=3, seed=1)
    run, restored = _train(tmp_path / "img", "dataset=image_folder", f"dataset.root={root}", "dataset.size=12",
                           "dataset.val_fraction=0.2")
    files = [str(p) for c in ("left", "right") for p in sorted((root / "test" / c).iterdir())]
    out = _outputs(restored, restored.data.x_test)
    by_file = {r["input"]: r["label"] for r in run.predict(str(root / "test"))}
    assert by_file == {f: restored.data.class_names[i] for f, i in zip(files, out.argmax(1).tolist())}

    main = wine_csv(tmp_path, "wine.csv")
    test = tmp_path / "wine_test.csv"
    lines = main.read_text().splitlines()
    test.write_text("\n".join([lines[0], *lines[1::5]]) + "\n")
    main.write_text("\n".join([lines[0], *[x for i, x in enumerate(lines[1:]) if i % 5]]) + "\n")
    run, restored = _train(tmp_path / "tab", "dataset=csv", f"dataset.path={main}", f"dataset.target={WINE_TARGET}",
                           f"dataset.test_path={test}")
    out = _outputs(restored, restored.data.x_test)
    rows = run.predict(file=test)
    assert [r[WINE_TARGET] for r in rows] == [restored.data.class_names[i] for i in out.argmax(1).tolist()]
    assert rows[0]["input"] == f"{test} line 2"
    header = lines[0].split(",")
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(h for h in header if h != "alcohol") + "\n" + "1," * (len(header) - 2) + "x\n")
    assert_one_line_error(["predict", run.dir, "--file", bad], tmp_path, "bad.csv line 2: no column 'alcohol'")
