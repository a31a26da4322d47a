"""Translation pairs: numbers written out in two languages (``num2words``), Django's single-line UI messages
(read from the installed package), your own tab-separated file (``dataset=tsv_pairs``, Tatoeba's format) and a
download-and-checksum loader for the Multi30k corpus.

num2words splits:
- ``random``: all numbers below ``max_number`` split at random (80/10/10); a tiny model saturates it.
- ``compositional``: the numbers in ``held_out`` (default 7000-7999) never appear in training; a seeded
  ``held_out_val`` fraction of them is the validation split (model selection), the rest the test split. It
  tests whether a model composes "seven" and "thousand" it saw apart.

Every split is tokenized by tokenizers trained on the train split's sources and targets only. Targets are
``<bos> ... <eos>``; references for BLEU and chrF are the raw target strings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnml.data.download import _download, ensure_verified
from nnml.errors import NnmlError, bad_choice
from nnml.tasks.text.batches import pad
from nnml.tasks.text.data import TextSplits, lengths_of
from nnml.tasks.text.po import django_catalogues, translations
from nnml.tasks.text.tokenizers import BOS_ID, EOS_ID, train_tokenizer

SPLITS = ("random", "compositional")


def build_pairs(name: str, pairs: dict[str, list[tuple[str, str]]], *, src_tokenizer: str, tgt_tokenizer: str,
                min_freq: int, vocab_size: int, lowercase: bool, max_len: int) -> TextSplits:
    """TextSplits of (source, target) string pairs per split, with tokenizers trained on the train pairs."""
    if not pairs["train"]:
        raise NnmlError(f"dataset={name} has no training pairs")
    src_tok = train_tokenizer(src_tokenizer, [s for s, _ in pairs["train"]], min_freq=min_freq,
                              vocab_size=vocab_size, lowercase=lowercase, key="dataset.src_tokenizer")
    tgt_tok = train_tokenizer(tgt_tokenizer, [t for _, t in pairs["train"]], min_freq=min_freq,
                              vocab_size=vocab_size, lowercase=lowercase, key="dataset.tgt_tokenizer")
    fields, texts, refs = {}, {}, {}
    longest = 1
    for split, ps in pairs.items():
        src = [src_tok.encode(s)[:max_len] for s, _ in ps]
        tgt = [[BOS_ID] + tgt_tok.encode(t)[: max_len - 1] + [EOS_ID] for _, t in ps]
        longest = max([longest, *(len(t) for t in tgt)])
        fields[split] = {"src": pad(src), "src_len": lengths_of(src), "tgt": pad(tgt), "tgt_len": lengths_of(tgt)}
        texts[split] = [s for s, _ in ps]
        refs[split] = [t for _, t in ps]
    f = fields
    return TextSplits(
        name=name, task="seq2seq",
        x_train=f["train"]["src"], y_train=f["train"]["tgt"], x_val=f["val"]["src"], y_val=f["val"]["tgt"],
        x_test=f["test"]["src"], y_test=f["test"]["tgt"],
        input_shape=tuple(f["train"]["src"].shape[1:]), num_outputs=tgt_tok.vocab_size,
        meta={"src_vocab_size": src_tok.vocab_size, "tgt_vocab_size": tgt_tok.vocab_size, "pad_id": src_tok.pad_id,
              "max_len": max_len, "max_target_len": longest},
        fields=fields, sort_key="src_len", trim={"src": "src_len", "tgt": "tgt_len"}, texts=texts, references=refs,
        tokenizers={"src": src_tok, "tgt": tgt_tok},
    )


def _random_split(items: list, seed: int, val_fraction: float, test_fraction: float) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))
    n_test, n_val = int(round(test_fraction * len(items))), int(round(val_fraction * len(items)))
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return {"train": [items[i] for i in sorted(train)], "val": [items[i] for i in sorted(val)],
            "test": [items[i] for i in sorted(test)]}


def number_pairs(seed: int, src_lang: str = "en", tgt_lang: str = "ru", max_number: int = 10000,
                 split: str = "compositional", held_out=(7000, 8000), held_out_val: float = 0.2,
                 val_fraction: float = 0.1, test_fraction: float = 0.1) -> dict[str, list[tuple[str, str]]]:
    """The (source words, target words) pairs of each split (see the module docstring)."""
    from num2words import num2words

    if split not in SPLITS:
        raise bad_choice("dataset.split", split, SPLITS)
    try:
        pairs = [(num2words(n, lang=src_lang), num2words(n, lang=tgt_lang)) for n in range(max_number)]
    except NotImplementedError as e:
        raise NnmlError(f"dataset.src_lang/tgt_lang: num2words cannot write {src_lang}/{tgt_lang} ({e})") from None
    if split == "random":
        return _random_split(pairs, seed, val_fraction, test_fraction)
    lo, hi = int(held_out[0]), int(held_out[1])
    if not 0 <= lo < hi <= max_number:
        raise NnmlError(f"dataset.held_out={[lo, hi]} is not valid; choose a range inside [0, {max_number}]")
    inside = list(range(lo, hi))
    rng = np.random.default_rng(seed)
    val_n = set(rng.choice(inside, int(round(held_out_val * len(inside))), replace=False).tolist())
    return {"train": [p for n, p in enumerate(pairs) if not lo <= n < hi],
            "val": [pairs[n] for n in inside if n in val_n],
            "test": [pairs[n] for n in inside if n not in val_n]}


def numbers(seed: int, src_lang: str = "en", tgt_lang: str = "ru", max_number: int = 10000,
            split: str = "compositional", held_out=(7000, 8000), held_out_val: float = 0.2,
            val_fraction: float = 0.1, test_fraction: float = 0.1, src_tokenizer: str = "word",
            tgt_tokenizer: str = "word", min_freq: int = 1, vocab_size: int = 1000, lowercase: bool = False,
            max_len: int = 32) -> TextSplits:
    """Numbers in words, ``src_lang`` -> ``tgt_lang`` (any pair num2words writes)."""
    pairs = number_pairs(seed, src_lang, tgt_lang, max_number, split, held_out, held_out_val, val_fraction,
                         test_fraction)
    return build_pairs(f"numbers_{src_lang}_{tgt_lang}_{split}", pairs, src_tokenizer=src_tokenizer,
                       tgt_tokenizer=tgt_tokenizer, min_freq=min_freq, vocab_size=vocab_size, lowercase=lowercase, max_len=max_len)


def django_message_pairs(lang: str = "ru") -> list[tuple[str, str]]:
    """Distinct single-line (English, ``lang``) message pairs of Django's catalogues, in a fixed order."""
    if not django_catalogues(lang):
        raise NnmlError(f"dataset.lang: Django ships no catalogue for '{lang}'")
    seen = {}
    for src, tgt in translations(lang):
        if "\n" in src or "\n" in tgt:
            continue
        src, tgt = " ".join(src.split()), " ".join(tgt.split())
        if src and tgt and src not in seen:
            seen[src] = tgt
    return sorted(seen.items())


def django_messages(seed: int, lang: str = "ru", val_fraction: float = 0.1, test_fraction: float = 0.2,
                    src_tokenizer: str = "bpe", tgt_tokenizer: str = "bpe", min_freq: int = 2, vocab_size: int = 1000,
                    lowercase: bool = False, max_len: int = 64) -> TextSplits:
    """Real parallel text: Django's English UI messages and their human ``lang`` translations, split at random."""
    pairs = _random_split(django_message_pairs(lang), seed, val_fraction, test_fraction)
    return build_pairs(f"django_en_{lang}", pairs, src_tokenizer=src_tokenizer, tgt_tokenizer=tgt_tokenizer,
                       min_freq=min_freq, vocab_size=vocab_size, lowercase=lowercase, max_len=max_len)


# ------------------------------------------------------------------------------------------------ a TSV file
def read_tsv_pairs(path, key: str = "dataset.path") -> list[tuple[str, str]]:
    """(source, target) of each line of a Tatoeba-style file: ``source<TAB>target[<TAB>attribution]``, UTF-8, no
    header, no quoting (a tab is always a separator). Blank lines are skipped; anything else that is not 2 or 3
    fields, or an empty side, is one line naming the line number."""
    from nnml.data.table_files import check_file

    p = check_file(path, key)
    pairs = []
    try:
        with open(p, encoding="utf-8-sig") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) not in (2, 3):
                    raise NnmlError(f"{p} line {n}: {len(fields)} tab-separated fields; each line needs "
                                    f"source<TAB>target, optionally <TAB>attribution")
                src, tgt = " ".join(fields[0].split()), " ".join(fields[1].split())
                if not src or not tgt:
                    raise NnmlError(f"{p} line {n}: the {'source' if not src else 'target'} is empty; every line "
                                    f"needs both sides of the pair")
                pairs.append((src, tgt))
    except UnicodeDecodeError as e:
        raise NnmlError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8") from None
    if not pairs:
        raise NnmlError(f"{p} is empty; it needs lines of source<TAB>target")
    return pairs


def _split_by_source(pairs: list[tuple[str, str]], seed: int, val_fraction: float, test_fraction: float) -> dict:
    """A seeded random split of the distinct sources: every translation of one source lands in the same split,
    so a test sentence was never seen in training with another translation."""
    sources = sorted({s for s, _ in pairs})
    parts = _random_split(sources, seed, val_fraction, test_fraction)
    where = {s: name for name, ss in parts.items() for s in ss}
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for s, t in pairs:
        out[where[s]].append((s, t))
    return out


def tsv_pairs(seed: int, path: str | None = None, test_path: str | None = None, reverse: bool = False,
              n_pairs: int | None = None, val_fraction: float = 0.1, test_fraction: float = 0.1,
              src_tokenizer: str = "word", tgt_tokenizer: str = "word", min_freq: int = 1, vocab_size: int = 8000,
              lowercase: bool = False, max_len: int = 32) -> TextSplits:
    """Translation pairs from a tab-separated file (Tatoeba's format, e.g. manythings.org's fra.txt); ``reverse``
    translates target -> source; ``n_pairs`` keeps a seeded subset; ``test_path`` gives the test pairs."""
    pairs = read_tsv_pairs(path)
    if reverse:
        pairs = [(t, s) for s, t in pairs]
    if n_pairs and int(n_pairs) < len(pairs):
        keep = np.sort(np.random.default_rng(seed).choice(len(pairs), int(n_pairs), replace=False))
        pairs = [pairs[i] for i in keep]
    if test_path:
        test = read_tsv_pairs(test_path, "dataset.test_path")
        test = [(t, s) for s, t in test] if reverse else test
        split = _split_by_source(pairs, seed, val_fraction, 0.0)
        split["test"] = test
    else:
        split = _split_by_source(pairs, seed, val_fraction, test_fraction)
    for name in ("val", "test"):
        if not split[name]:
            raise NnmlError(f"dataset.path={path}: the {name} split is empty ({len(pairs)} pairs); add pairs or raise "
                            f"dataset.{name}_fraction")
    return build_pairs(Path(str(path)).stem, split, src_tokenizer=src_tokenizer, tgt_tokenizer=tgt_tokenizer,
                       min_freq=min_freq, vocab_size=vocab_size, lowercase=lowercase, max_len=max_len)


# ------------------------------------------------------------------------------------------------ Multi30k
# Multi30k (Elliott et al., 2016): 29,000 / 1,014 / 1,000 English-German image descriptions, as the archives of the
# WMT16 multimodal task. The mirror and SHA-256 sums are the ones torchtext 0.18 uses.
MULTI30K = {
    "mirror": "https://raw.githubusercontent.com/neychev/small_DL_repo/master/datasets/Multi30k/",
    "archives": {"train": "training.tar.gz", "val": "validation.tar.gz", "test": "mmt16_task1_test.tar.gz"},
    "prefix": {"train": "train", "val": "val", "test": "test"},
    "sha256": {
        "train": "20140d013d05dd9a72dfde46478663ba05737ce983f478f960c1123c6671be5e",
        "val": "a7aa20e9ebd5ba5adce7909498b94410996040857154dab029851af3a866da8c",
        "test": "6d1ca1dba99e2c5dd54cae1226ff11c2551e6ce63527ebb072a1f70f72a5cd36",
    },
}


def ensure_multi30k(root: Path, download: bool = True) -> Path:
    """The folder holding the three verified Multi30k archives, downloading what is missing."""
    archives = MULTI30K["archives"]
    return ensure_verified(Path(root) / "multi30k", {archives[s]: MULTI30K["sha256"][s] for s in archives},
                           algo="sha256", mirrors=[MULTI30K["mirror"]], what="dataset=multi30k", download=download,
                           put="the Multi30k archives", downloader=_download)


def read_multi30k(archive: Path, prefix: str, src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    """Line-aligned pairs of ``<prefix>.<src_lang>`` and ``<prefix>.<tgt_lang>`` inside one archive (members are
    read, never extracted to disk)."""
    import tarfile

    texts = {}
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar.getmembers():
            base = Path(m.name).name
            for lang in (src_lang, tgt_lang):
                if m.isfile() and base == f"{prefix}.{lang}":
                    texts[lang] = tar.extractfile(m).read().decode("utf-8").splitlines()
    missing = [lang for lang in (src_lang, tgt_lang) if lang not in texts]
    if missing:
        raise NnmlError(f"{archive} has no {prefix}.{missing[0]}; dataset.src_lang/tgt_lang: choose de or en")
    src, tgt = texts[src_lang], texts[tgt_lang]
    if len(src) != len(tgt):
        raise NnmlError(f"{archive}: {prefix}.{src_lang} and {prefix}.{tgt_lang} differ in length")
    return [(s.strip(), t.strip()) for s, t in zip(src, tgt) if s.strip() and t.strip()]


def multi30k(seed: int, root: str = "data", download: bool = True, src_lang: str = "de", tgt_lang: str = "en",
             n_train: int | None = None, src_tokenizer: str = "bpe", tgt_tokenizer: str = "bpe", min_freq: int = 2,
             vocab_size: int = 8000, lowercase: bool = False, max_len: int = 64) -> TextSplits:
    """Multi30k German-English (or English-German) with its official train/val/test splits."""
    folder = ensure_multi30k(Path(root), download)
    pairs = {s: read_multi30k(folder / a, MULTI30K["prefix"][s], src_lang, tgt_lang)
             for s, a in MULTI30K["archives"].items()}
    if n_train and n_train < len(pairs["train"]):
        keep = np.sort(np.random.default_rng(seed).choice(len(pairs["train"]), n_train, replace=False))
        pairs["train"] = [pairs["train"][i] for i in keep]
    return build_pairs(f"multi30k_{src_lang}_{tgt_lang}", pairs, src_tokenizer=src_tokenizer,
                       tgt_tokenizer=tgt_tokenizer, min_freq=min_freq, vocab_size=vocab_size, lowercase=lowercase,
                       max_len=max_len)
