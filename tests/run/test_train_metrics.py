"""``trainer.train_metrics=false``: training epochs report their losses only, and nothing else about the run changes.

The oracle is the same run with the default ``trainer.train_metrics=true``: the metrics a training step skips are
read off its outputs and draw no random numbers, so both runs train the same weights; the losses, validation and
test metrics must be identical, and the skipped training scores absent."""

from __future__ import annotations

import pytest

from tests.conftest import TINY, cli, read_metrics, run_dirs, train_config

CASES = {
    "supervised": ["model.dropout=0.2"],
    "mixup": ["experiment=regularization", "+regularizer=mixup"],
    "seq2seq": ["task=seq2seq", "model=gru_attention", "dataset=numbers", "dataset.max_number=200",
                "dataset.held_out=[100,150]", "trainer.max_epochs=1"],
    "vae": ["experiment=digits_vae"],
    "gan": ["experiment=digits_gan", "trainer.max_epochs=1", "task.feature_net=identity",
            "task.fd_samples=50"],
}
SKIPPED = {"supervised": ("train/acc", "train/f1"), "mixup": ("train/acc", "train/f1"),
           "seq2seq": ("train/token_acc",), "vae": ("train/nelbo", "train/rec", "train/kl", "train/kl_weight"),
           "gan": ("train/d_real", "train/d_fake")}
KEPT = {"gan": ("train/d_loss", "train/g_loss")}


def _run(tmp_path, name: str, *extra) -> dict:
    from tests.conftest import compose

    cfg = compose([*TINY, *CASES[name], *extra])
    run_dir = tmp_path / name / ("losses" if extra else "all")
    train_config(cfg, run_dir, quiet=True)
    return read_metrics(run_dir)


def _numbers(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, float) and "/" in k and not k.startswith("time")}


@pytest.mark.parametrize("name", list(CASES))
def test_losses_only_train_the_same_run(tmp_path, name):
    full = _run(tmp_path, name)
    lean = _run(tmp_path, name, "trainer.train_metrics=false")
    for key in SKIPPED[name]:
        assert key in full and key not in lean
    for key in KEPT.get(name, ("train/loss",)):
        assert lean[key] == full[key]
    same = {k: v for k, v in _numbers(full).items() if k not in SKIPPED[name] and not k.endswith("_per_s")}
    assert same and {k: lean.get(k) for k in same} == same


def test_a_training_score_as_monitor_is_refused_before_any_run_folder(tmp_path):
    r = cli(["train", *TINY, "trainer.train_metrics=false", "trainer.monitor=train/acc"], tmp_path)
    assert r.returncode == 2
    assert "trainer.monitor=train/acc" in r.stderr and "trainer.train_metrics=false" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert run_dirs(tmp_path) == []
