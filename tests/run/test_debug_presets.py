"""debug=fast|overfit|limit|profile through the real command and the real run."""

from __future__ import annotations

import json

import pytest

from tests.conftest import compose, train_config

CPU = ["trainer.device=cpu", "trainer.num_threads=1"]


def _steps(cfg, run_dir, store):
    from nnml.engine.callbacks import Callback

    class Count(Callback):
        def on_fit_end(self, state):
            store["state"] = state
            store["model"] = state.info["model_ref"]

    return train_config(cfg, run_dir, callbacks=[Count()], quiet=True)


def test_fast_runs_one_batch_of_everything_and_keeps_nothing(workdir):
    from typer.testing import CliRunner

    from nnml.cli import app

    result = CliRunner().invoke(app, ["train", *CPU, "debug=fast"])
    assert result.exit_code == 0, result.output
    assert "Results" in result.output and "removed" in result.output
    assert not (workdir / "outputs").exists(), "no folder is left, not even outputs/"
    assert "warning" not in result.output.lower()  # one step says nothing about learning


def test_fast_limits_every_split_to_one_batch(tmp_path):
    store = {}
    m = _steps(compose([*CPU, "debug=fast", "dataset.batch_size=16", "dataset.eval_batch_size=16"]), tmp_path, store)
    assert store["state"].global_step == 1 and store["state"].epoch == 1
    assert (tmp_path / "checkpoints" / "last.pt").is_file() and (tmp_path / "signals.jsonl").is_file()
    # val and test on one batch of 16: their accuracy is a multiple of 1/16
    for split in ("val", "test"):
        assert (m[f"{split}/acc"] * 16) == pytest.approx(round(m[f"{split}/acc"] * 16)), m


def test_overfit_fits_a_few_batches_without_dropout(tmp_path):
    store = {}
    m = _steps(compose([*CPU, "debug=overfit"]), tmp_path, store)
    assert m["train/loss"] < 0.05, m["train/loss"]
    assert m["warnings"] == []
    assert store["state"].steps_per_epoch == 4
    assert all(getattr(mod, "p", 0.0) == 0.0 for mod in store["model"].modules()
               if isinstance(mod, __import__("torch").nn.Dropout))


def test_overfit_says_so_when_the_model_cannot_fit(tmp_path):
    m = train_config(compose([*CPU, "debug=overfit", "optimizer=sgd", "optimizer.lr=1e-6", "trainer.max_epochs=5"]),
                     tmp_path, quiet=True)
    assert any("debug=overfit: the training loss is still" in w for w in m["warnings"]), m["warnings"]


def test_limit_takes_a_fraction_of_the_batches(tmp_path):
    store = {}
    _steps(compose([*CPU, "debug=limit", "dataset.batch_size=32"]), tmp_path, store)
    st = store["state"]
    assert st.epoch == 3 and st.steps_per_epoch == 4 and st.global_step == 12  # 40 batches of 32, a tenth


def test_profile_leaves_a_trace_and_prints_the_top_operators(workdir):
    from typer.testing import CliRunner

    from nnml.cli import app

    result = CliRunner().invoke(app, ["train", *CPU, "debug=profile", "logger=none"])
    assert result.exit_code == 0, result.output
    (run,) = (workdir / "outputs" / "train" / "runs").iterdir()
    (trace,) = (run / "profile").glob("*.pt.trace.json")
    events = json.loads(trace.read_text())["traceEvents"]
    assert any(str(e.get("name", "")).startswith("aten::") for e in events)
    table = (run / "profile" / "top_operators.txt").read_text()
    assert "aten::" in table and "self %" in table
    assert "aten::" in result.output and "trace:" in result.output
    assert "aten::" in (run / "train.log").read_text()
