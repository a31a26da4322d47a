"""Text datasets: splits that do not leak, compositional and template hold-outs, the CoNLL reader and its
download-and-checksum loader on files the test writes."""

import pytest

from nnml.errors import NnmlError
from nnml.tasks.text import ner
from nnml.tasks.text import pairs as translation


def test_numbers_compositional_split_holds_out_the_range():
    from num2words import num2words

    pairs = translation.number_pairs(0, max_number=1000, held_out=(700, 800))
    held = {num2words(n, lang="en") for n in range(700, 800)}
    assert not held & {s for s, _ in pairs["train"]}
    assert {s for s, _ in pairs["val"] + pairs["test"]} == held
    assert len(pairs["val"]) == 20 and len(pairs["train"]) == 900
    rnd = translation.number_pairs(0, max_number=1000, split="random")
    assert sum(len(v) for v in rnd.values()) == 1000
    with pytest.raises(NnmlError, match="dataset.split=rand is not valid"):
        translation.number_pairs(0, split="rand")


def test_numbers_data_facts_and_targets():
    d = translation.numbers(0, max_number=300, held_out=(200, 250))
    assert d.task == "seq2seq" and set(d.meta) >= {"src_vocab_size", "tgt_vocab_size", "pad_id"}
    tgt = d.fields["train"]["tgt"]
    assert (tgt[:, 0] == 2).all()  # <bos>
    tok = d.tokenizers["tgt"]
    assert tok.decode(tgt[0].tolist()[1:]) == d.references["train"][0]


def test_django_pairs_are_single_line():
    pairs = translation.django_message_pairs("ru")
    assert len(pairs) > 500
    assert all("\n" not in s and "\n" not in t for s, t in pairs)


def test_langid_splits_do_not_share_texts():
    from nnml.tasks.text.langid import langid

    d = langid(0)
    sets = [set(d.texts[s]) for s in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2])
    assert d.num_outputs == 12 and len(d.texts["train"]) > 6000
    assert d.meta["vocab_size"] == d.tokenizers["x"].vocab_size


def test_faker_templates_are_held_out_and_tags_are_iob2():
    temps = ner.template_split(0, 0.2, 0.2)
    assert not {t for _, t in temps["train"]} & {t for _, t in temps["test"]}
    d = ner.faker_ner(0, n_train=60, n_val=20, n_test=20)
    for tags in d.references["train"] + d.references["test"]:
        for prev, tag in zip(["O"] + tags, tags):
            if tag.startswith("I-"):
                assert prev[2:] == tag[2:]  # every I- continues an entity of its type


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
"""


def test_read_conll_converts_iob1(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text(CONLL)
    sents = ner.read_conll(p)
    assert sents[0] == (["EU", "rejects", "German", "call", "."], ["B-ORG", "O", "B-MISC", "O", "O"])
    assert sents[1][1] == ["B-PER", "I-PER"]
    assert ner.iob1_to_iob2(["I-LOC", "B-LOC", "I-PER"]) == ["B-LOC", "B-LOC", "B-PER"]


def test_conll_loader_downloads_and_checks(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    for remote in ner.CONLL_SOURCES["conll2003"]["names"].values():
        (served / remote).write_text(CONLL)

    def fake_download(url, dest):
        dest.write_bytes((served / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(ner, "_download", fake_download)
    digest = ner.sha256(served / "eng.train")
    monkeypatch.setitem(ner.CONLL_SOURCES["conll2003"], "sha256", dict.fromkeys(ner.CONLL_FILES, digest))
    d = ner.conll2003(0, root=str(tmp_path / "data"))
    assert d.sizes() == {"train": 2, "val": 2, "test": 2}
    assert "B-MISC" in d.class_names
    (tmp_path / "data" / "conll2003" / "test.txt").write_text(CONLL + "x O\n")
    with pytest.raises(NnmlError, match="SHA-256"):
        ner.conll2003(0, root=str(tmp_path / "data"))
    with pytest.raises(NnmlError, match="download=false"):
        ner.conll2003(0, root=str(tmp_path / "elsewhere"), download=False)


def test_multi30k_loader_reads_archives_and_checks(tmp_path, monkeypatch):
    import io
    import tarfile

    served = tmp_path / "served"
    served.mkdir()
    lines = {"de": "Ein Hund läuft .\nZwei Kinder spielen .\n", "en": "A dog runs .\nTwo children play .\n"}
    for split, name in translation.MULTI30K["archives"].items():
        with tarfile.open(served / name, "w:gz") as tar:
            for lang, text in lines.items():
                data = text.encode()
                info = tarfile.TarInfo(f"{translation.MULTI30K['prefix'][split]}.{lang}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    monkeypatch.setattr("nnml.tasks.text.pairs._download", lambda url, dest: dest.write_bytes(
        (served / url.rsplit("/", 1)[1]).read_bytes()))
    monkeypatch.setitem(translation.MULTI30K, "sha256",
                        {s: ner.sha256(served / a) for s, a in translation.MULTI30K["archives"].items()})
    d = translation.multi30k(0, root=str(tmp_path / "data"), src_tokenizer="word", tgt_tokenizer="word", min_freq=1)
    assert d.sizes() == {"train": 2, "val": 2, "test": 2}
    assert d.texts["test"][0] == "Ein Hund läuft ." and d.references["test"][1] == "Two children play ."
    (tmp_path / "data" / "multi30k" / "validation.tar.gz").write_bytes(b"broken")
    with pytest.raises(NnmlError, match="SHA-256"):
        translation.multi30k(0, root=str(tmp_path / "data"))


def test_ag_news_loader(tmp_path, monkeypatch):
    from nnml.data import idx
    from nnml.tasks.text import ag_news

    served = tmp_path / "served"
    served.mkdir()
    rows = '"3","Wall St. Bears","Short-sellers are seeing green again.\\\\ Reuters"\n"2","Cup final","A late goal."\n'
    for name in ag_news.SOURCE["md5"]:
        (served / name).write_text(rows * 10)
    monkeypatch.setattr(ag_news, "_download", lambda url, dest: dest.write_bytes(
        (served / url.rsplit("/", 1)[1]).read_bytes()))
    monkeypatch.setitem(ag_news.SOURCE, "md5", {n: idx.md5(served / n) for n in ag_news.SOURCE["md5"]})
    d = ag_news.ag_news(0, root=str(tmp_path / "data"), min_freq=1)
    assert d.sizes() == {"train": 19, "val": 1, "test": 20}
    assert d.texts["test"][0] == "Wall St. Bears Short-sellers are seeing green again. Reuters"
    assert d.class_names[int(d.y_test[0])] == "Business"
    (tmp_path / "data" / "ag_news" / "test.csv").write_text("oops")
    with pytest.raises(NnmlError, match="MD5"):
        ag_news.ag_news(0, root=str(tmp_path / "data"))
