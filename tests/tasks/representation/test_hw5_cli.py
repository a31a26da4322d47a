"""Homework 5 through the real CLI (in-process, tiny runs on digits): pretraining writes the probe metrics with
their baselines and directions, the projector embeddings and the 2-D figure; the logged probe equals scikit-learn
on the run's own encoder; model=pretrained reuses the encoder (pretrained, scratch, frozen); bad input answers
one line each."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nnml.cli import app
from tests.conftest import TINY, assert_records_reproduce_metrics, read_metrics, run_dirs

# About 35 s of CPU in all (11 tiny runs sharing one pretraining run); the unit tests beside it cover the parts.
pytestmark = pytest.mark.slow

PRETRAIN = ["task=contrastive", "dataset=digits", "model=mlp", "model.hidden=[48]", "model.dropout=0",
            "task.probe.every_n_epochs=1", "task.embeddings.max_points=300", "task.projection_dim=16"]


def _train(root, *overrides):
    before = set(run_dirs(root))
    old = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(app, ["train", *TINY, *overrides])
    finally:
        os.chdir(old)
    new = sorted(set(run_dirs(root)) - before)
    return result, (new[-1] if new else None)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("hw5")


@pytest.fixture(scope="module")
def pretrained(root):
    result, run = _train(root, *PRETRAIN)
    assert result.exit_code == 0, result.output
    return run


def test_pretraining_logs_probe_knn_and_baselines_with_directions(pretrained):
    m = read_metrics(pretrained)
    for split in ("val", "test"):
        for name in ("probe_acc", "knn_acc", "probe_acc_random", "knn_acc_random", "probe_acc_raw", "knn_acc_raw"):
            assert 0 < m[f"{split}/{name}"] <= 1, (split, name)
            assert m["directions"][name] == "max"
    assert m["directions"]["loss"] == "min" and m["monitor"] == "val/probe_acc"
    # The probe's and kNN's per-sample predictions give probe_acc and knn_acc, with Wilson intervals.
    assert assert_records_reproduce_metrics(pretrained)["test"][1] == {"kind": "probe"}
    assert m["interval_methods"]["test/probe_acc"].startswith("Wilson")
    # the raw-input baseline does not depend on the encoder: a linear model on standardized digits does well
    assert m["test/probe_acc_raw"] > 0.9
    ckpt = torch.load(pretrained / "checkpoints" / "best.pt", weights_only=True)
    assert {"encoder", "projector"} <= set(ckpt["modules"])
    assert ckpt["task"]["encoder_facts"]["input_shape"] == [1, 8, 8]


def test_logged_probe_equals_sklearn_on_the_runs_encoder(pretrained):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    from nnml.config.runfolder import RunFolder
    from nnml.config.seeds import data_seed
    from nnml.run.build import build_data
    from nnml.tasks.representation.encoder import load_encoder
    from nnml.tasks.representation.probe import embed

    cfg, trust = RunFolder(pretrained).load_config()
    data = build_data(cfg.dataset, seed=data_seed(cfg), trust=trust)
    encoder, info = load_encoder(pretrained)
    assert info["out_dim"] == 48
    ztr, zte = embed(encoder, data.x_train).numpy(), embed(encoder, data.x_test).numpy()
    scaler = StandardScaler().fit(ztr)
    acc = LogisticRegression(max_iter=1000).fit(scaler.transform(ztr), data.y_train).score(
        scaler.transform(zte), data.y_test)
    m = read_metrics(pretrained)
    assert m["test/probe_acc"] == pytest.approx(acc, abs=2.5 / len(zte))
    knn = KNeighborsClassifier(20, metric="cosine").fit(ztr, data.y_train).score(zte, data.y_test)
    assert m["test/knn_acc"] == pytest.approx(knn, abs=1e-9)


def test_projector_embeddings_sprite_and_figure(pretrained):
    pbtxt = (pretrained / "projector_config.pbtxt").read_text()
    assert "sprite" in pbtxt and "metadata_path" in pbtxt
    folder = next(p for p in pretrained.rglob("tensors.tsv"))
    assert len(folder.read_text().strip().splitlines()) == 300
    meta = (folder.parent / "metadata.tsv").read_text().split()
    assert set(meta) <= {str(i) for i in range(10)} and len(meta) == 300
    assert any(pretrained.rglob("sprite.png"))
    assert (pretrained / "figures" / "test_embeddings_pca.png").stat().st_size > 5000


def test_downstream_pretrained_scratch_and_frozen(root, pretrained):
    result, run = _train(root, "task=finetune", "model=pretrained", f"model.encoder={pretrained}", "dataset=digits",
                         "model.encoder_lr=0.5", "optimizer.lr=0.002")
    assert result.exit_code == 0, result.output
    assert read_metrics(run)["test/acc"] > 0.5
    groups = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["slots"]["model"]["optimizer"]["param_groups"]
    assert [(g["name"], g["lr"]) for g in groups] == [("head", 0.002), ("encoder", pytest.approx(0.001))]
    result, frozen = _train(root, "model=pretrained", f"model.encoder={pretrained}", "dataset=digits",
                            "model.freeze=true")
    assert result.exit_code == 0, result.output
    before = torch.load(pretrained / "checkpoints" / "best.pt", weights_only=True)["modules"]["encoder"]
    after = torch.load(frozen / "checkpoints" / "last.pt", weights_only=True)["modules"]["model"]
    for k, v in before.items():
        torch.testing.assert_close(after[f"encoder.{k}"], v, rtol=0, atol=0)
    result, scratch = _train(root, "model=pretrained", f"model.encoder={pretrained}", "dataset=digits",
                             "model.init=scratch", "trainer.max_epochs=1")
    assert result.exit_code == 0, result.output
    w = torch.load(scratch / "checkpoints" / "last.pt", weights_only=True)["modules"]["model"]
    assert not torch.equal(w["encoder.body.1.weight"], before["body.1.weight"])


def test_encoder_lr_makes_param_groups(pretrained):
    from nnml.tasks.representation.encoder import PretrainedClassifier

    model = PretrainedClassifier((1, 8, 8), 10, encoder=str(pretrained), encoder_lr=0.1)
    groups = model.param_groups(0.01)
    with pytest.raises(Exception, match="model.encoder_lr=0.1 needs task=finetune"):
        model.param_groups()  # task=auto's call: no learning rate to scale
    assert [g["lr"] for g in groups] == [0.01, pytest.approx(0.001)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    frozen = PretrainedClassifier((1, 8, 8), 10, encoder=str(pretrained), freeze=True).train()
    assert [g["name"] for g in frozen.param_groups(0.01)] == ["head"] and not frozen.encoder.training
    assert [g["name"] for g in frozen.param_groups()] == ["head"] and "lr" not in frozen.param_groups()[0]


def _fails(root, *overrides) -> str:
    result, _ = _train(root, *overrides)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output.strip()


def test_bad_encoder_folders_and_heads_answer_one_line(root, pretrained, tmp_path):
    out = _fails(root, "model=pretrained", f"model.encoder={tmp_path / 'nope'}")
    assert "model.encoder=" in out and "no such run folder" in out
    out = _fails(root, "model=pretrained")
    assert "model.encoder is not set" in out
    supervised = tmp_path / "supervised_run" / ".hydra"
    supervised.mkdir(parents=True)
    (supervised / "config.yaml").write_text("task:\n  _target_: nnml.tasks.supervised.task.SupervisedTask\n")
    out = _fails(root, "model=pretrained", f"model.encoder={supervised.parent}")
    assert "is a SupervisedTask run, not a pretraining run" in out and "task=contrastive" in out
    out = _fails(root, "model=pretrained", f"model.encoder={pretrained}", "model.head={_target_:torch.nn.Linear,"
                 "in_features:7}")
    assert "model.head.in_features=7 does not fit the encoder" in out and "48 features" in out
    out = _fails(root, "model=pretrained", f"model.encoder={pretrained}", "dataset=wine")
    assert "pretrained on inputs of shape (1, 8, 8)" in out and "(13,)" in out
    out = _fails(root, "task=contrastive", "task.method=byol")
    assert "task.method=byol is not valid" in out and "simsiam" in out


def test_autoencoder_denoising_runs_and_its_encoder_is_reusable(root):
    result, run = _train(root, "task=autoencoder", "task.kind=denoising", "dataset=digits", "model=mlp",
                         "model.hidden=[32]", "model.dropout=0", "task.embeddings.plot=none", "logger=none")
    assert result.exit_code == 0, result.output
    m = read_metrics(run)
    assert m["directions"]["recon"] == "min" and np.isfinite(m["test/recon"]) and m["test/probe_acc"] > 0.3
    result, down = _train(root, "model=pretrained", f"model.encoder={run}", "dataset=digits", "logger=none",
                          "trainer.max_epochs=1")
    assert result.exit_code == 0, result.output
