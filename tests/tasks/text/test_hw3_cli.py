"""The three NLP tasks through the real CLI: train tiny runs, check the reported metrics against the reference
libraries on the run's own predictions, and feed ``nnml predict`` good and bad input."""

import json

import pytest

from tests.conftest import TINY, assert_records_reproduce_metrics, cli, read_metrics, run_dirs

pytestmark = pytest.mark.slow


def _train(tmp_path, *overrides):
    r = cli(["train", *TINY, "trainer.max_epochs=1", "logger=none", *overrides], tmp_path, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return run_dirs(tmp_path)[-1]


def _predict(run_dir, *args):
    r = cli(["predict", str(run_dir), *args], run_dir.parent, timeout=900)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-3000:]
    return r


def test_translation_bleu_is_sacrebleus_and_predict(tmp_path):
    import sacrebleu

    run = _train(tmp_path, "task=seq2seq", "dataset=numbers", "dataset.max_number=400", "dataset.held_out=[300,350]",
                 "model=gru_attention", "model.hidden=32", "model.emb_dim=16", "task.beam=3")
    m = read_metrics(run)
    assert {"val/bleu", "val/chrf", "val/exact", "val/bleu_beam", "test/chrf_beam"} <= set(m)
    assert "tok:13a" in m["sacrebleu"]["bleu"] and m["directions"]["bleu"] == "max"
    # Per-sentence records (greedy and beam/) give every BLEU, chrF and exact match of metrics.json.
    records, spec = assert_records_reproduce_metrics(run)["test"]
    assert spec == {"kind": "translation"} and {"beam/bleu_stats", "beam/exact"} <= set(records)
    assert (run / "tokenizer_src.json").is_file() and (run / "tokenizer_tgt.json").is_file()

    from nnml.run.restore import restore_run
    from nnml.tasks.text.pairs import number_pairs

    pairs = number_pairs(42, max_number=400, held_out=(300, 350))["test"]
    task = restore_run(run).task
    hyps = [r["translation"] for r in task.predict([s for s, _ in pairs], {"beam": 1})]
    refs = [t for _, t in pairs]
    assert m["test/bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-6)
    assert m["test/chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-6)

    r = _predict(run, "three hundred and one", "ünseen ✓ words " * 40, "--beam", "2", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows[0]["beam"] == 2 and isinstance(rows[0]["translation"], str)
    assert rows[1]["truncated"] is True and rows[1]["unknown_tokens"] > 0
    r = _predict(run, "   ")
    assert r.returncode != 0 and "input 1 is empty" in r.stderr + r.stdout


def test_ner_and_langid_predict(tmp_path):
    ner = _train(tmp_path, "task=token_classification", "dataset=faker_ner", "dataset.n_train=200",
                 "dataset.n_val=40", "dataset.n_test=40", "model=bilstm_tagger", "model.hidden=16", "model.crf=true")
    m = read_metrics(ner)
    assert {"test/f1", "test/precision", "test/recall", "test/f1_PER"} <= set(m)
    assert_records_reproduce_metrics(ner)
    r = _predict(ner, "Anna Petrova moved to Berlin on 3 May 2020 .", "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout.splitlines()[0])
    assert len(row["tags"].split()) == 10 and "entities" in row
    # The tagger reads words and their characters: nnml accelerate (one input tensor) refuses it in one line.
    r = cli(["accelerate", str(ner), "--methods", "int8_dynamic"], tmp_path)
    assert r.returncode == 2 and "takes 2 (TokenClassificationTask), so nothing was made" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (ner / "accelerated").exists()

    lid = _train(tmp_path, "task=text_classification", "dataset=langid", "model=bag_of_embeddings", "model.ngrams=1")
    assert "test/acc" in read_metrics(lid)
    assert assert_records_reproduce_metrics(lid)["test"][1] == {"kind": "classification"}
    r = _predict(lid, "Сохранить изменения", "Guardar cambios", "--json", "--top", "2")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    from nnml.tasks.text.langid import LANGUAGES

    assert len(rows) == 2 and len(rows[0]["top"]) == 2 and rows[0]["label"] in LANGUAGES
    assert all(0.0 <= row["probability"] <= 1.0 for row in rows)

    digits = _train(tmp_path, "dataset=digits")
    r = _predict(digits, "some text")
    assert r.returncode != 0 and len((r.stderr + r.stdout).strip().splitlines()) <= 2
