"""nnml sweep-plot: a metric against one key, a line per value of another, averaged over repeats."""

import json

import pytest
from typer.testing import CliRunner

from nnml.cli import app


def _run(root, name, fraction, init, acc):
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "config.yaml").write_text(f"dataset:\n  train_fraction: {fraction}\nmodel:\n  init: {init}\n")
    (d / "metrics.json").write_text(json.dumps({"test/acc": acc, "val/acc": acc}))


def test_sweep_plot_table_and_png(tmp_path):
    from nnml.cli.sweep_plot import collect

    for i, (f, init, acc) in enumerate([(0.01, "pretrained", 0.3), (0.01, "scratch", 0.2), (1.0, "pretrained", 0.9),
                                        (1.0, "scratch", 0.85), (1.0, "scratch", 0.95)]):
        _run(tmp_path, f"job{i}", f, init, acc)
    table = collect([tmp_path], "dataset.train_fraction", "model.init", "test/acc")
    assert table == {"pretrained": {0.01: [0.3], 1.0: [0.9]}, "scratch": {0.01: [0.2], 1.0: [0.85, 0.95]}}
    out = tmp_path / "plot.png"
    r = CliRunner().invoke(app, ["sweep-plot", str(tmp_path), "--x", "dataset.train_fraction", "--hue", "model.init",
                                 "--logx", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 5000
    assert "0.9000 ± 0.0707" in r.output and "0.3000" in r.output
    # the 95% t interval of the mean of two runs (scipy: t.interval(0.95, 1, loc=0.9, scale=sem) = [0.2647, 1.5353])
    assert "0.9000 ± 0.0707 [0.2647, 1.5353] n=2" in r.output


def test_sweep_plot_bad_keys(tmp_path):
    from nnml.cli.sweep_plot import collect
    from nnml.errors import NnmlError

    _run(tmp_path, "job", 0.1, "scratch", 0.5)
    with pytest.raises(NnmlError, match=r"--x=dataset.fraction is not valid \(did you mean .dataset.train_fraction.\?\)"):
        collect([tmp_path], "dataset.fraction", None, "test/acc")
    with pytest.raises(NnmlError, match="--metric=test/ac is not valid"):
        collect([tmp_path], "dataset.train_fraction", None, "test/ac")


def test_sweep_plot_names_and_groups_on_the_x_axis(tmp_path):
    """A group (the option each run chose, from .hydra/hydra.yaml) or a key whose values are names: one tick per
    name, as nnml compare shows them; --logx is refused there in one line."""
    from nnml.cli.sweep_plot import collect

    for i, (opt, act, acc) in enumerate([("adam", "relu", 0.9), ("sgd", "relu", 0.8), ("adam", "tanh", 0.85),
                                         ("sgd", "tanh", 0.7)]):
        _run(tmp_path, f"job{i}", 0.5, "scratch", acc)
        cfg = tmp_path / f"job{i}" / ".hydra" / "config.yaml"
        cfg.write_text(cfg.read_text() + f"  activation: {act}\n")
        (tmp_path / f"job{i}" / ".hydra" / "hydra.yaml").write_text(
            f"hydra:\n  runtime:\n    choices:\n      optimizer: {opt}\n      hydra/launcher: basic\n")
    assert collect([tmp_path], "optimizer", "model.activation", "test/acc") == {
        "relu": {"adam": [0.9], "sgd": [0.8]}, "tanh": {"adam": [0.85], "sgd": [0.7]}}
    out = tmp_path / "by_optimizer.png"
    r = CliRunner().invoke(app, ["sweep-plot", str(tmp_path), "--x", "model.activation", "--hue", "optimizer",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 5000 and "activation=relu" in r.output and "0.7000" in r.output
    r = CliRunner().invoke(app, ["sweep-plot", str(tmp_path), "--x", "optimizer", "--logx"])
    assert r.exit_code == 2 and "--logx needs positive numbers on the x axis; optimizer takes adam, sgd" in r.output
