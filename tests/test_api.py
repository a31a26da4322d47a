"""The Python API (nnml/api.py) against the command line it stands for: ``nnml.train`` writes the folder ``nnml
train`` writes (the same config, choices and overrides, the same metrics, ``nnml eval`` reproduces them), refuses
what the command line refuses with the same line, and never prints when quiet; ``Run.history`` reads metrics.csv or
the event files alike; ``nnml.runs`` and ``nnml.compare`` are ``nnml compare``'s table; ``import nnml`` stays light."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
import yaml

from nnml.errors import NnmlError
from tests.data.files import invoke

FAST = ["dataset=iris", "trainer.max_epochs=3", "trainer.device=cpu", "trainer.num_threads=1"]


def _yaml(path):
    return yaml.safe_load(path.read_text())


def test_train_writes_what_nnml_train_writes(tmp_path):
    import nnml

    code, _, err, crash = invoke(["train", *FAST, "model.hidden=[16]", f"hydra.run.dir={tmp_path / 'cli'}"], tmp_path)
    assert code == 0 and crash is None, err
    run = nnml.train(*FAST, "model.hidden=[16]", hydra__run__dir=str(tmp_path / "api"), quiet=True)
    assert run.dir == tmp_path / "api"
    cli, api = tmp_path / "cli" / ".hydra", run.dir / ".hydra"
    assert (api / "config.yaml").read_text() == (cli / "config.yaml").read_text()
    assert _yaml(api / "overrides.yaml") == _yaml(cli / "overrides.yaml") == [*FAST, "model.hidden=[16]"]
    h_api, h_cli = _yaml(api / "hydra.yaml")["hydra"], _yaml(cli / "hydra.yaml")["hydra"]
    assert h_api["runtime"]["choices"] == h_cli["runtime"]["choices"]
    assert h_api["overrides"]["task"] == h_cli["overrides"]["task"]
    assert h_api["runtime"]["output_dir"] == str(run.dir)
    m_cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    for key in ("test/acc", "test/loss", "val/acc", "train/loss", "epochs", "num_params"):
        assert run.metrics[key] == m_cli[key], key
    assert "epoch 3/3" in (run.dir / "train.log").read_text()
    code, out, err, _ = invoke(["eval", run.dir, "--json"], tmp_path)
    assert code == 0, err
    evaluated = json.loads(out)
    assert evaluated["test/acc"] == run.metrics["test/acc"]
    assert evaluated["test/loss"] == pytest.approx(run.metrics["test/loss"], rel=1e-6)
    assert run.config.model.hidden == [16] and not run.model.training
    assert nnml.load(run.dir).metrics == run.metrics


def test_refusals_are_the_command_lines_lines_and_leave_no_folder(tmp_path, monkeypatch):
    import nnml

    monkeypatch.chdir(tmp_path)
    for args in (["trainer.max_epochs=abc"], ["optimizer.lrr=0.1"], ["loss=mse"]):
        code, _, err, _ = invoke(["train", *args], tmp_path)
        with pytest.raises(NnmlError) as e:
            nnml.train(*args, quiet=True)
        assert code == 2 and err.strip() == f"error: {e.value}"
    (tmp_path / "t.csv").write_text("a,b\n1,x\n")
    with pytest.raises(NnmlError, match="dataset.target=nope is not a column of t.csv"):  # found by the run itself
        nnml.train("dataset=csv", "dataset.path=t.csv", "dataset.target=nope", quiet=True)
    with pytest.raises(NnmlError, match="sweeps .-m. are not part of the Python API"):
        nnml.train("-m", "optimizer.lr=0.1,0.01")
    with pytest.raises(NnmlError, match="--cfg is a flag of the nnml train command"):
        nnml.train("--cfg", "job")
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob(".hydra"))


def test_quiet_prints_nothing_and_a_console_gets_the_run(tmp_path, capsys):
    from rich.console import Console

    import nnml

    nnml.train(*FAST, "logger=none", hydra__run__dir=str(tmp_path / "q"), quiet=True)
    assert capsys.readouterr() == ("", "")
    buf = io.StringIO()
    nnml.train(*FAST, "logger=none", hydra__run__dir=str(tmp_path / "v"), console=Console(file=buf, width=120))
    text = buf.getvalue()
    assert "nnml train" in text and "epoch 3/3" in text and "Results" in text
    assert capsys.readouterr() == ("", "")


def test_resume_extends_a_run_and_a_finished_one_is_returned_as_it_is(tmp_path):
    import nnml

    run = nnml.train(*FAST, "logger=none", hydra__run__dir=str(tmp_path / "r"), quiet=True)
    same = nnml.train(f"resume={run.dir}", quiet=True)
    assert same.metrics == run.metrics and "already trained 3 epochs" in same.notes[0]
    longer = nnml.train(f"resume={run.dir}", "trainer.max_epochs=5", quiet=True)
    assert longer.dir == run.dir and longer.metrics["epochs"] == 5


def test_history_reads_metrics_csv_and_the_event_files_alike(tmp_path):
    import nnml
    from nnml.sweep.compare import epoch_history

    run = nnml.train(*FAST, "logger=all", hydra__run__dir=str(tmp_path / "h"), quiet=True)
    from_csv = run.history
    import pandas as pd

    from_events = pd.DataFrame(epoch_history(run.dir))
    assert list(from_csv["epoch"]) == [1, 2, 3] and list(from_events["epoch"]) == [1, 2, 3]
    assert sorted(from_csv.columns) == sorted(from_events.columns)
    for col in from_csv.columns:  # event files hold float32
        assert list(from_events[col]) == pytest.approx(list(from_csv[col]), rel=1e-6), col


def test_runs_and_compare_are_the_compare_table(tmp_path):
    import nnml

    a = nnml.train(*FAST, "logger=none", "model.hidden=[16]", hydra__run__dir=str(tmp_path / "s" / "a"), quiet=True)
    b = nnml.train(*FAST, "logger=none", "model.hidden=[4]", hydra__run__dir=str(tmp_path / "s" / "b"), quiet=True)
    table = nnml.runs(tmp_path / "s")
    assert list(table["run"]) == ["a", "b"] and list(table["model.hidden"]) == ["[16]", "[4]"]
    assert list(table["test/acc"]) == [a.metrics["test/acc"], b.metrics["test/acc"]]
    ranked = nnml.compare(a, b)
    code, out, err, _ = invoke(["compare", tmp_path / "s", "--format", "json"], tmp_path)
    assert code == 0, err
    assert ranked.to_dict("records") == json.loads(out)
    assert list(nnml.compare(tmp_path / "s", metric="test/loss")["test/loss"]) == sorted(
        [a.metrics["test/loss"], b.metrics["test/loss"]])


def test_import_nnml_stays_light():
    code = ("import sys, nnml; heavy = [m for m in ('torch', 'nnml.api', 'hydra', 'pandas') if m in sys.modules]; "
            "print(heavy); print(nnml.train.__module__, nnml.Run.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "nnml.api Run"


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    import os
    import signal

    import nnml
    from nnml.api import RunFailed
    from nnml.engine.callbacks import Callback

    class CtrlC(Callback):
        def on_epoch_end(self, state, metrics):
            if state.epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)  # what a notebook's interrupt button sends the kernel

    with pytest.raises(RunFailed, match="stopped by Ctrl-C; saved .*last.pt; resume with nnml.train") as e:
        nnml.train(*FAST, "logger=none", hydra__run__dir=str(tmp_path / "c"), quiet=True, callbacks=[CtrlC()])
    assert e.value.run_dir == tmp_path / "c" and (tmp_path / "c" / "checkpoints" / "last.pt").is_file()
    assert nnml.train(f"resume={tmp_path / 'c'}", quiet=True).metrics["epochs"] == 3


def test_your_own_config_folder_and_code(tmp_path, monkeypatch):
    import shutil

    import nnml
    from tests.tasks.test_task_design import USER_CODE

    shutil.copytree(USER_CODE, tmp_path / "student")
    monkeypatch.chdir(tmp_path / "student")
    run = nnml.train(config_dir="conf", model="tiny_net", model__width=8, dataset="moons", trainer__max_epochs=2,
                     trainer__device="cpu", logger="none", quiet=True)
    assert run.config.model._target_ == "my_models.TinyNet" and run.allow == ["my_models."]
    assert type(run.model).__name__ == "TinyNet" and run.model[1].out_features == 8
    with pytest.raises(NnmlError, match="my_models.TinyNet"):  # a folder's own list is data: name your code
        nnml.load(run.dir).config
    assert nnml.load(run.dir, allow=["my_models."]).config.model.width == 8
