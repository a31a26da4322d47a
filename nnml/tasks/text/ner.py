"""Named-entity data: sentences from templates filled by ``Faker`` (English and Russian locales), and a reader and
download-and-checksum loader for the CoNLL-2003 column format.

Faker NER: each template has slots for persons (PER), places (LOC), organisations (ORG) and dates (DATE); the
tags are BIO/IOB2. The templates themselves are split between train, val and test (seeded), so the test split
measures whether a tagger learned what a name looks like and where it goes, not memorised frames.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import numpy as np
import torch

from nnml.data.download import _download, ensure_verified, file_digest
from nnml.errors import NnmlError
from nnml.tasks.text.batches import pad
from nnml.tasks.text.data import TextSplits, lengths_of
from nnml.tasks.text.tokenizers import CharTokenizer, WordTokenizer, split_words

ENTITY_TYPES = ("PER", "LOC", "ORG", "DATE")

TEMPLATES = {
    "en": [
        "{PER} was born in {LOC} on {DATE} .",
        "{PER} joined {ORG} in {DATE} .",
        "On {DATE} , {PER} flew from {LOC} to {LOC} .",
        "{ORG} opened a new office in {LOC} .",
        "The contract between {ORG} and {ORG} was signed on {DATE} .",
        "{PER} , the head of {ORG} , spoke in {LOC} yesterday .",
        "According to {PER} , {ORG} will leave {LOC} by {DATE} .",
        "We met {PER} and {PER} at the station in {LOC} .",
        "{PER} has worked for {ORG} since {DATE} .",
        "Shares of {ORG} fell after {PER} resigned .",
        "The festival in {LOC} starts on {DATE} .",
        "{PER} moved to {LOC} to study .",
        "Police in {LOC} questioned {PER} on {DATE} .",
        "{ORG} hired {PER} as its new director .",
        "A letter from {PER} arrived in {LOC} on {DATE} .",
        "Why did {ORG} close its factory in {LOC} ?",
        "{PER} thanked {ORG} for the award .",
        "Flights from {LOC} were cancelled on {DATE} .",
        "My friend {PER} lives near {LOC} .",
        "{ORG} and {PER} settled the case on {DATE} .",
        "The mayor of {LOC} , {PER} , visited {ORG} .",
        "{PER} will present the report to {ORG} on {DATE} .",
        "Customers of {ORG} in {LOC} complained about delays .",
        "Born on {DATE} , {PER} grew up in {LOC} .",
        "Last week {PER} sold the house in {LOC} .",
        "{ORG} announced record profits on {DATE} .",
        "Talks between {PER} and {ORG} broke down .",
        "Tourists from {LOC} crowded the streets of {LOC} .",
    ],
    "ru": [
        "{PER} родился в городе {LOC} {DATE} .",
        "{PER} перешёл в компанию {ORG} {DATE} .",
        "{DATE} {PER} прилетел из города {LOC} .",
        "Компания {ORG} открыла офис в городе {LOC} .",
        "Договор между {ORG} и {ORG} подписан {DATE} .",
        "{PER} , глава {ORG} , выступил вчера в городе {LOC} .",
        "По словам {PER} , {ORG} уйдёт из города {LOC} .",
        "Мы встретили {PER} на вокзале в городе {LOC} .",
        "{PER} работает в {ORG} с {DATE} .",
        "Акции {ORG} упали после отставки {PER} .",
        "Фестиваль в городе {LOC} начнётся {DATE} .",
        "{PER} переехал в город {LOC} учиться .",
        "{ORG} наняла {PER} новым директором .",
        "Письмо от {PER} пришло в город {LOC} {DATE} .",
        "{PER} поблагодарил {ORG} за награду .",
        "Рейсы из города {LOC} отменили {DATE} .",
        "Мой друг {PER} живёт недалеко от города {LOC} .",
        "Мэр города {LOC} {PER} посетил {ORG} .",
        "{ORG} объявила о рекордной прибыли {DATE} .",
        "Переговоры между {PER} и {ORG} сорвались .",
    ],
}


def _fill(fake, kind: str, lang: str, rng, last_date=None) -> str:
    if kind == "PER":
        return fake.name() if rng.random() < 0.7 else f"{fake.first_name()} {fake.last_name()}"
    if kind == "LOC":
        return fake.city() if lang == "ru" or rng.random() < 0.7 else fake.country()
    if kind == "ORG":
        return fake.company()
    d = fake.date_object(end_datetime=last_date)
    return f"{d.day} {fake.month_name()} {d.year}" if rng.random() < 0.6 else f"{fake.month_name()} {d.year}"


def fill_template(template: str, fake, lang: str, rng, last_date=None) -> tuple[list[str], list[str]]:
    """(tokens, IOB2 tags) of one template filled with fake entities."""
    tokens, tags = [], []
    for part in re.split(r"(\{[A-Z]+\})", template):
        if part.startswith("{") and part.endswith("}"):
            kind = part[1:-1]
            words = split_words(_fill(fake, kind, lang, rng, last_date))
            tokens += words
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)
        else:
            words = part.split()
            tokens += words
            tags += ["O"] * len(words)
    return tokens, tags


def template_split(seed: int, val_fraction: float, test_fraction: float) -> dict[str, list[tuple[str, str]]]:
    """(lang, template) per split: each language's templates shuffled by ``seed`` and cut into three parts."""
    rng = np.random.default_rng(seed)
    out = {"train": [], "val": [], "test": []}
    for lang, temps in TEMPLATES.items():
        order = rng.permutation(len(temps))
        n_test = max(1, int(round(test_fraction * len(temps))))
        n_val = max(1, int(round(val_fraction * len(temps))))
        out["test"] += [(lang, temps[i]) for i in order[:n_test]]
        out["val"] += [(lang, temps[i]) for i in order[n_test : n_test + n_val]]
        out["train"] += [(lang, temps[i]) for i in order[n_test + n_val :]]
    return out


def faker_sentences(seed: int, sizes: dict[str, int], val_fraction: float = 0.2, test_fraction: float = 0.2,
                    last_date: str | None = None):
    """split -> list of (tokens, tags), every sentence from that split's templates. Dates are drawn between 1970
    and ``last_date`` (YYYY-MM-DD); None: the current time, as nnml 0.1.0 did, whose data therefore changed with the
    clock (its runs' configs have no last_date, and are rebuilt as they were made)."""
    from faker import Faker

    temps = template_split(seed, val_fraction, test_fraction)
    fakes = {"en": Faker("en_US"), "ru": Faker("ru_RU")}
    try:
        end = datetime.datetime.fromisoformat(str(last_date)) if last_date is not None else None
    except ValueError:
        raise NnmlError(f"dataset.last_date={last_date} is not valid; give a day as YYYY-MM-DD") from None
    out = {}
    for k, split in enumerate(("train", "val", "test")):
        rng = np.random.default_rng(seed * 10 + k)
        for i, f in enumerate(fakes.values()):
            f.seed_instance(seed * 100 + k * 10 + i)
        sents = []
        for _ in range(sizes[split]):
            lang, t = temps[split][int(rng.integers(len(temps[split])))]
            sents.append(fill_template(t, fakes[lang], lang, rng, end))
        out[split] = sents
    return out


def build_tagging(name: str, sents: dict[str, list], *, min_freq: int, lowercase: bool, max_len: int,
                  max_word_len: int, tag_names: list[str] | None = None) -> TextSplits:
    """TextSplits of tagged sentences: ``words`` ids, ``chars`` (N, L, C) ids, ``tags`` ids (-100 at padding), with
    tokenizers trained on the train split."""
    train = sents["train"]
    words = WordTokenizer.train_tokens([t for t, _ in train], min_freq=min_freq, lowercase=lowercase)
    chars = CharTokenizer.train(["".join(t) for t, _ in train], min_freq=1)
    if tag_names is None:
        kinds = sorted({tag[2:] for _, tags in train for tag in tags if tag != "O"})
        tag_names = ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]
    return encode_tagging(name, sents, words=words, chars=chars, tag_names=tag_names, max_len=max_len,
                          max_word_len=max_word_len)


def encode_tagging(name: str, sents: dict[str, list], *, words, chars, tag_names: list[str], max_len: int,
                   max_word_len: int) -> TextSplits:
    """TextSplits of tagged sentences encoded with the given tokenizers (a restored run's own, when its data can
    not be built again word for word: see :func:`retokenized`)."""
    tag_id = {t: i for i, t in enumerate(tag_names)}
    fields, texts, refs = {}, {}, {}
    for split, ss in sents.items():
        w = [words.encode_tokens(t[:max_len]) for t, _ in ss]
        unknown = {tag for _, tags in ss for tag in tags} - set(tag_id)
        if unknown:
            raise NnmlError(f"dataset={name}: the {split} split has tags never seen in training: {sorted(unknown)}")
        y = pad([[tag_id[x] for x in tags[:max_len]] for _, tags in ss], value=-100)
        c = torch.zeros(len(ss), y.shape[1], max_word_len, dtype=torch.long)
        for i, (toks, _) in enumerate(ss):
            for j, tok in enumerate(toks[:max_len]):
                ids = chars.encode(tok)[:max_word_len]
                c[i, j, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        fields[split] = {"words": pad(w, length=y.shape[1]), "chars": c, "tags": y, "len": lengths_of(w)}
        texts[split] = [t for t, _ in ss]
        refs[split] = [tags for _, tags in ss]
    f = fields
    return TextSplits(
        name=name, task="tagging",
        x_train=f["train"]["words"], y_train=f["train"]["tags"], x_val=f["val"]["words"], y_val=f["val"]["tags"],
        x_test=f["test"]["words"], y_test=f["test"]["tags"],
        input_shape=tuple(f["train"]["words"].shape[1:]), num_outputs=len(tag_names), class_names=list(tag_names),
        meta={"vocab_size": words.vocab_size, "char_vocab_size": chars.vocab_size, "num_tags": len(tag_names),
              "pad_id": words.pad_id, "max_len": max_len},
        fields=fields, sort_key="len", trim={"words": "len", "chars": "len", "tags": "len"}, texts=texts,
        references=refs, tokenizers={"words": words, "chars": chars},
    )


def retokenized(data: TextSplits, stored: dict) -> TextSplits | None:
    """``data`` encoded with a restored run's ``stored`` tokenizers (its tokenizer_words/chars.json) when they differ
    from the ones trained on today's build; None when they are the same or missing. nnml 0.1.0's Faker NER data drew
    its dates up to the current time, so its train split, and with it the vocabulary, changed from one run to the
    next: the model's embedding rows follow the run's own vocabulary, not a new one."""
    if not {"words", "chars"} <= set(stored):
        return None
    now = data.tokenizers
    if all(stored[k].to_dict() == now[k].to_dict() for k in ("words", "chars")):
        return None
    sents = {split: list(zip(data.texts[split], data.references[split])) for split in data.texts}
    return encode_tagging(data.name, sents, words=stored["words"], chars=stored["chars"],
                          tag_names=list(data.class_names), max_len=int(data.meta.get("max_len", 64)),
                          max_word_len=int(data.fields["train"]["chars"].shape[2]))


def faker_ner(seed: int, n_train: int = 4000, n_val: int = 500, n_test: int = 1000, val_fraction: float = 0.2,
              test_fraction: float = 0.2, min_freq: int = 2, lowercase: bool = False, max_len: int = 64,
              max_word_len: int = 16, last_date: str | None = None) -> TextSplits:
    """Faker-template NER with templates held out between splits (see the module docstring)."""
    sents = faker_sentences(seed, {"train": n_train, "val": n_val, "test": n_test}, val_fraction, test_fraction,
                            last_date)
    tag_names = ["O"] + [f"{p}-{k}" for k in ENTITY_TYPES for p in ("B", "I")]
    return build_tagging("faker_ner", sents, min_freq=min_freq, lowercase=lowercase, max_len=max_len,
                         max_word_len=max_word_len,
                         tag_names=tag_names)


# ---------------------------------------------------------------------------------------------- CoNLL-2003
def iob1_to_iob2(tags: list[str]) -> list[str]:
    """CoNLL-2003 as published is IOB1 (``I-`` starts an entity unless it follows the same type): make it IOB2."""
    out = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or out[-1] == "O" or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def read_conll(path: Path, column: int = -1, scheme: str = "iob1") -> list[tuple[list[str], list[str]]]:
    """Sentences of a CoNLL column file: the token is column 0, the tag column ``column``; blank lines separate
    sentences and ``-DOCSTART-`` lines are skipped. ``scheme=iob1`` converts the tags to IOB2."""
    sents, toks, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("-DOCSTART-"):
                if toks:
                    sents.append((toks, iob1_to_iob2(tags) if scheme == "iob1" else tags))
                toks, tags = [], []
                continue
            cols = line.split()
            if len(cols) < 2:
                raise NnmlError(f"{path}:{n}: a CoNLL line needs a token and a tag column, got {line[:60]!r}")
            toks.append(cols[0])
            tags.append(cols[column])
    if toks:
        sents.append((toks, iob1_to_iob2(tags) if scheme == "iob1" else tags))
    return sents


# The English CoNLL-2003 files in the layout of the widely used copy (train/valid/test .txt, 4 columns).
CONLL_FILES = ("train.txt", "valid.txt", "test.txt")
CONLL_SOURCES = {
    "conll2003": {
        "mirrors": ["https://raw.githubusercontent.com/synalp/NER/master/corpus/CoNLL-2003/"],
        "names": {"train.txt": "eng.train", "valid.txt": "eng.testa", "test.txt": "eng.testb"},
        # SHA-256 of the files as they were published there; a different copy is refused.
        "sha256": {"train.txt": None, "valid.txt": None, "test.txt": None},
    },
}


def sha256(path: Path) -> str:
    return file_digest(path, "sha256")


def ensure_conll(name: str, root: Path, download: bool = True) -> Path:
    """The folder holding the verified files of ``name``, downloading what is missing."""
    src = CONLL_SOURCES[name]
    return ensure_verified(Path(root) / name, {f: src["sha256"][f] for f in CONLL_FILES}, algo="sha256",
                           mirrors=src["mirrors"], remote=src["names"], what=f"dataset={name}", download=download,
                           put=f"the CoNLL files {', '.join(CONLL_FILES)}", downloader=_download)


def conll2003(seed: int, root: str = "data", download: bool = True, min_freq: int = 2, lowercase: bool = False,
              max_len: int = 128, max_word_len: int = 16,
              n_train: int | None = None) -> TextSplits:
    """CoNLL-2003 English NER (PER, LOC, ORG, MISC) from its published train/testa/testb files."""
    folder = ensure_conll("conll2003", Path(root), download)
    sents = {s: read_conll(folder / f) for s, f in zip(("train", "val", "test"), CONLL_FILES)}
    if n_train and n_train < len(sents["train"]):
        keep = np.sort(np.random.default_rng(seed).choice(len(sents["train"]), n_train, replace=False))
        sents["train"] = [sents["train"][i] for i in keep]
    return build_tagging("conll2003", sents, min_freq=min_freq, lowercase=lowercase, max_len=max_len,
                         max_word_len=max_word_len)
