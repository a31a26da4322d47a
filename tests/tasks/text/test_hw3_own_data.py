"""Your own text data: dataset=text_csv (texts and labels in a table file) and dataset=tsv_pairs (Tatoeba's
source<TAB>target[<TAB>attribution] lines). Oracles: the rows of the file, a TF-IDF + logistic regression
baseline (scikit-learn) on the same split, and the pairs num2words writes."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from nnml.errors import NnmlError
from nnml.tasks.text.pairs import read_tsv_pairs, tsv_pairs
from nnml.tasks.text.text_csv import text_csv
from tests.data.files import invoke, runs, write_csv

POS = "great good lovely excellent fine wonderful superb".split()
NEG = "bad awful terrible poor horrible dreadful nasty".split()
FILL = "the movie film plot was and really quite very a story acting".split()


def reviews(path, n: int = 160, seed: int = 0):
    """A two-class review table: filler words and two words of the class's sentiment."""
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        lab = rnd.choice(["pos", "neg"])
        words = rnd.sample(FILL, 5) + rnd.sample(POS if lab == "pos" else NEG, 2)
        rnd.shuffle(words)
        rows.append([" ".join(words).capitalize(), lab])
    return write_csv(path, ["review", "sentiment"], rows), rows


def test_text_csv_holds_the_files_rows(tmp_path):
    path, rows = reviews(tmp_path / "reviews.csv")
    d = text_csv(0, path=str(path), text="review", label="sentiment")
    assert d.task == "classification" and d.class_names == ["neg", "pos"] and d.sizes() == {"train": 112,
                                                                                            "val": 16, "test": 32}
    given = {(t, lab) for t, lab in rows}
    for split in ("train", "val", "test"):
        got = {(t, d.class_names[y]) for t, y in zip(d.texts[split], d.references[split])}
        assert got <= given
    tok = d.tokenizers["x"]
    first = d.fields["test"]["x"][0][: int(d.fields["test"]["x_len"][0])].tolist()
    assert tok.decode(first) == d.texts["test"][0].lower()  # lowercase: true by default
    # the tokenizer saw the train texts only
    train_words = {w for t in d.texts["train"] for w in t.lower().split()}
    assert set(tok.vocab[4:]) <= train_words


def test_text_csv_test_file_and_bad_labels(tmp_path):
    path, rows = reviews(tmp_path / "train.csv")
    test = write_csv(tmp_path / "test.csv", ["review", "sentiment"], [["Quite great", "pos"], ["Awful", "neg"]])
    d = text_csv(0, path=str(path), text="review", label="sentiment", test_path=str(test))
    assert d.texts["test"] == ["Quite great", "Awful"] and d.references["test"] == [1, 0]
    bad = write_csv(tmp_path / "bad.csv", ["review", "sentiment"], [["Quite great", "pos"], ["Meh", "meh"]])
    with pytest.raises(NnmlError, match=r"bad.csv line 3: label 'meh' never occurs in .*train.csv"):
        text_csv(0, path=str(path), text="review", label="sentiment", test_path=str(bad))
    with pytest.raises(NnmlError, match="dataset.text=reviews is not a column .*did you mean 'review'"):
        text_csv(0, path=str(path), text="reviews", label="sentiment")


@pytest.mark.slow
def test_text_csv_trains_predicts_and_matches_a_tfidf_baseline(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    path, _ = reviews(tmp_path / "reviews.csv", n=300)
    d = text_csv(42, path=str(path), text="review", label="sentiment")
    vec = TfidfVectorizer().fit(d.texts["train"])
    clf = LogisticRegression(max_iter=1000).fit(vec.transform(d.texts["train"]), d.references["train"])
    baseline = clf.score(vec.transform(d.texts["test"]), d.references["test"])
    args = ["train", "trainer.device=cpu", "trainer.num_threads=1", "logger=none", "trainer.max_epochs=15",
            "dataset=text_csv", "dataset.path=reviews.csv", "dataset.text=review", "dataset.label=sentiment",
            "model=bag_of_embeddings", "model.ngrams=1", "optimizer.lr=0.02"]
    accs = {}
    for task in ("text_classification", "auto"):
        code, out, err, crash = invoke([*args, f"task={task}"], tmp_path)
        assert code == 0 and crash is None, err[-3000:]
        accs[task] = json.loads((runs(tmp_path)[-1] / "metrics.json").read_text())["test/acc"]
    assert accs["text_classification"] == accs["auto"]  # the same supervised step on the same batches
    print(f"TF-IDF + logistic regression {baseline:.3f}, bag of embeddings {accs['auto']:.3f}")
    assert accs["auto"] >= baseline - 0.05, (accs, baseline)
    code, out, err, crash = invoke(["predict", runs(tmp_path)[0], "a superb lovely film", "--json"], tmp_path)
    assert code == 0 and crash is None, err
    assert json.loads(out.splitlines()[0])["label"] == "pos"


# ---------------------------------------------------------------------------------------------- tsv_pairs

def number_lines(path, n: int = 120, extra: str = "\tCC-BY 2.0 (France) Attribution: tatoeba.org #{i}"):
    from num2words import num2words

    lines = [f"{num2words(i)}\t{num2words(i, lang='fr')}{extra.format(i=i)}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_tsv_pairs_read_the_tatoeba_format(tmp_path):
    from num2words import num2words

    path = number_lines(tmp_path / "fra.txt")
    pairs = read_tsv_pairs(path)
    assert pairs[:2] == [("zero", "zéro"), ("one", "un")] and len(pairs) == 120
    # two translations of one source stay in one split
    with open(path, "a", encoding="utf-8") as f:
        f.write("seven\tsept !\n\n")
    d = tsv_pairs(0, path=str(path))
    assert d.task == "seq2seq" and sum(d.sizes().values()) == 121
    where = {s: split for split in ("train", "val", "test") for s in d.texts[split]}
    assert sum(s == "seven" for split in d.texts.values() for s in split) == 2 and where["seven"]
    sevens = [split for split in ("train", "val", "test") if "seven" in d.texts[split]]
    assert len(sevens) == 1
    r = tsv_pairs(0, path=str(path), reverse=True)
    assert set(r.texts["train"]) <= {num2words(i, lang="fr") for i in range(120)} | {"sept !"}
    bad = tmp_path / "bad.txt"
    bad.write_text("one\tun\ntwo deux\n", encoding="utf-8")
    with pytest.raises(NnmlError, match="bad.txt line 2: 1 tab-separated fields"):
        read_tsv_pairs(bad)


def test_tsv_pairs_train_and_translate(tmp_path):
    number_lines(tmp_path / "fra.txt", n=200)
    code, out, err, crash = invoke(["train", "trainer.device=cpu", "trainer.num_threads=1", "logger=none",
                                    "trainer.max_epochs=1", "task=seq2seq", "dataset=tsv_pairs",
                                    "dataset.path=fra.txt", "model=gru_attention", "model.hidden=16",
                                    "model.emb_dim=8", "task.beam=1"], tmp_path)
    assert code == 0 and crash is None, err[-3000:]
    m = json.loads((runs(tmp_path)[-1] / "metrics.json").read_text())
    assert {"test/bleu", "test/chrf"} <= set(m) and np.isfinite(m["test/chrf"])
    code, out, err, crash = invoke(["predict", runs(tmp_path)[-1], "twenty-one", "--json"], tmp_path)
    assert code == 0 and crash is None, err
    assert isinstance(json.loads(out.splitlines()[0])["translation"], str)
