"""Bad files of a user's own data, through the real CLI (nnml train in this process): one line on stderr that names
the file and the line, row or image and what is wrong, exit code 2, no traceback, no run folder left behind."""

from __future__ import annotations

import pytest

from tests.data.files import assert_one_line_error, shape_pngs, wine_csv, write_csv

FAST = ["trainer.device=cpu", "trainer.num_threads=1", "trainer.max_epochs=1", "logger=none"]
CSV = ["dataset=csv", f"dataset.target={'cultivar'}"]
IMAGES = ["dataset=image_folder", "dataset.size=12"]
TEXT = ["task=text_classification", "dataset=text_csv", "model=bag_of_embeddings"]

# (id, arguments, what the one line must hold)
CASES = [
    ("csv-path-not-set", ["dataset=csv"], ["dataset.path is not set", "dataset.path=FILE"]),
    ("csv-no-such-file", [*CSV, "dataset.path=wines.csv"],
     ["dataset.path=wines.csv: no such file", "did you mean 'wine.csv'"]),
    ("csv-target-typo", ["dataset=csv", "dataset.path=wine.csv", "dataset.target=cultivr"],
     ["dataset.target=cultivr is not a column of wine.csv", "did you mean 'cultivar'", "alcohol"]),
    ("csv-feature-typo", [*CSV, "dataset.path=wine.csv", "dataset.features=[alcohl,hue]"],
     ["dataset.features=alcohl is not a column of wine.csv", "did you mean 'alcohol'"]),
    ("csv-drop-typo", [*CSV, "dataset.path=wine.csv", "dataset.drop=[prolin]"],
     ["dataset.drop=prolin", "did you mean 'proline'"]),
    ("csv-ragged-line", ["dataset=csv", "dataset.path=ragged.csv", "dataset.target=y"],
     ["ragged.csv line 5: 4 fields, but the header has 3"]),
    ("csv-short-line", ["dataset=csv", "dataset.path=short.csv", "dataset.target=y"],
     ["short.csv line 4: 2 fields, but the header has 3"]),
    ("csv-text-in-numeric-column", ["dataset=csv", "dataset.path=stray.csv", "dataset.target=y"],
     ["stray.csv line 8: column 'a' holds '1.5O', which is not a number", "dataset.categorical"]),
    ("csv-empty-file", ["dataset=csv", "dataset.path=empty.csv", "dataset.target=y"], ["empty.csv is empty"]),
    ("csv-header-only", ["dataset=csv", "dataset.path=header.csv", "dataset.target=y"],
     ["header.csv has a header but no rows"]),
    ("csv-empty-target", ["dataset=csv", "dataset.path=notarget.csv", "dataset.target=y"],
     ["notarget.csv line 3: the target column 'y' is empty"]),
    ("csv-unseen-test-label", [*CSV, "dataset.path=wine.csv", "dataset.test_path=wine_test.csv"],
     ["wine_test.csv line 3: label 'class_9' of column 'cultivar' never occurs in wine.csv"]),
    ("csv-test-file-lacks-column", [*CSV, "dataset.path=wine.csv", "dataset.test_path=ragged.csv"],
     ["dataset.test_path=ragged.csv has no column 'alcohol'"]),
    ("csv-too-many-categories", ["dataset=csv", "dataset.path=names.csv", "dataset.target=y",
                                 "dataset.max_categories=10"],
     ["column 'name' has 24 distinct text values in the train split, more than dataset.max_categories=10",
      "dataset.drop=[name]"]),
    ("csv-not-utf8", ["dataset=csv", "dataset.path=latin1.csv", "dataset.target=y"],
     ["latin1.csv: not UTF-8 text", "save the file as UTF-8"]),
    ("images-no-such-folder", [*IMAGES, "dataset.root=nowhere"], ["dataset.root=nowhere: no such folder"]),
    ("images-not-set", ["dataset=image_folder"], ["dataset.root is not set"]),
    ("images-empty-class", [*IMAGES, "dataset.root=empty_class"],
     ["empty_class/square: the class folder 'square' holds no images"]),
    ("images-unreadable", [*IMAGES, "dataset.root=garbage"],
     ["garbage/left/notes.png: not a readable image (cannot identify image file"]),
    ("images-truncated", [*IMAGES, "dataset.root=truncated"],
     ["truncated/right/right_03.png: not a readable image (image file is truncated)"]),
    ("images-class-only-in-test", [*IMAGES, "dataset.root=splits"],
     ["splits/test/square: class 'square' has no folder in", "train classes: left, right"]),
    ("images-channels", [*IMAGES, "dataset.root=truncated", "dataset.channels=4"],
     ["dataset.channels=4 is not valid", "1, 3"]),
    ("text-column-typo", [*TEXT, "dataset.path=reviews.csv", "dataset.text=txt"],
     ["dataset.text=txt is not a column of reviews.csv", "did you mean 'text'"]),
    ("text-empty-cell", [*TEXT, "dataset.path=blank_text.csv"],
     ["blank_text.csv line 3: the text column 'text' is empty"]),
    ("pairs-ragged-line", ["task=seq2seq", "dataset=tsv_pairs", "dataset.path=pairs.txt", "model=gru_attention"],
     ["pairs.txt line 3: 1 tab-separated fields", "source<TAB>target"]),
    ("interactions-bad-rating", ["experiment=recsys", "dataset=interactions_csv", "dataset.path=ratings.csv"],
     ["ratings.csv line 3: the rating column 'rating' holds 'five', not a number"]),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own_data")
    wine_csv(tmp)
    header = ["a", "b", "y"]
    write_csv(tmp / "ragged.csv", header, [["1", "2", "x"]] * 3 + [["1", "2", "x", "oops"]])
    write_csv(tmp / "short.csv", header, [["1", "2", "x"]] * 2 + [["1", "x"]])
    stray = [[f"{i / 2}", str(i), "xy"[i % 2]] for i in range(40)]
    stray[6][0] = "1.5O"  # a letter O for a zero, on line 8 (the header is line 1)
    write_csv(tmp / "stray.csv", header, stray)
    (tmp / "empty.csv").write_text("")
    (tmp / "header.csv").write_text("a,b,y\n")
    write_csv(tmp / "notarget.csv", header, [["1", "2", "x"], ["1", "2", ""]])
    names = [[f"person{i}", str(i), "xy"[i % 2]] for i in range(40)]
    write_csv(tmp / "names.csv", ["name", "b", "y"], names)
    (tmp / "latin1.csv").write_bytes("a,b,y\n1,2,caf\xe9\n".encode("latin-1"))
    import csv

    rows = list(csv.reader(open(tmp / "wine.csv")))
    rows[2][-1] = "class_9"
    write_csv(tmp / "wine_test.csv", rows[0], rows[1:20])
    shape_pngs(tmp / "empty_class", per_class=8)
    (tmp / "empty_class" / "square").mkdir()
    (tmp / "empty_class" / "square" / "README.txt").write_text("no images here")
    shape_pngs(tmp / "garbage", per_class=8)
    (tmp / "garbage" / "left" / "notes.png").write_text("not an image")
    shape_pngs(tmp / "truncated", per_class=8)
    png = tmp / "truncated" / "right" / "right_03.png"
    png.write_bytes(png.read_bytes()[:60])
    shape_pngs(tmp / "splits" / "train", per_class=8)
    shape_pngs(tmp / "splits" / "test", per_class=2)
    shape_pngs(tmp / "square_src", per_class=1)
    (tmp / "square_src" / "left").rename(tmp / "splits" / "test" / "square")
    write_csv(tmp / "reviews.csv", ["text", "label"], [["good", "pos"], ["bad", "neg"]] * 10)
    write_csv(tmp / "blank_text.csv", ["text", "label"], [["good", "pos"], ["  ", "neg"]] * 10)
    (tmp / "pairs.txt").write_text("one\tun\ntwo\tdeux\nthree trois\n", encoding="utf-8")
    write_csv(tmp / "ratings.csv", ["user", "item", "rating"], [["a", "x", "4"], ["b", "y", "five"]])
    return tmp


@pytest.mark.parametrize("args,needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_file_is_one_line(workspace, args, needles):
    assert_one_line_error(["train", *FAST, *args], workspace, *needles)
