"""provenance.json written by every run: when it starts (a failed run has one too), with the command as typed, the
folder, seeds, threads and device; a resume keeps the first record and appends its own."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests.conftest import TINY, run_dirs


def prov(run: Path) -> dict:
    return json.loads((run / "provenance.json").read_text())


def test_a_run_records_its_command_folder_seeds_threads_and_device(train_in_process, workdir):
    result, run = train_in_process("data_seed=7", "optimizer=sgd")
    assert result.exit_code == 0, result.output
    p = prov(run)
    assert p["argv"] == ["nnml", "train", *TINY, "data_seed=7", "optimizer=sgd"]
    assert Path(p["cwd"]) == workdir.resolve()
    assert p["seeds"] == {"seed": 42, "data_seed": 7}
    assert p["threads"] == 1 == torch.get_num_threads()
    assert p["device"] == "cpu" and p["from_epoch"] == 0 and "resumes" not in p
    assert p["versions"]["torch"] == torch.__version__


def test_a_failed_run_has_its_provenance_too(train_in_process):
    result, run = train_in_process("optimizer=sgd", "optimizer.lr=1e10", "model.hidden=[32]")
    assert result.exit_code == 1
    assert (run / "error.txt").is_file() and not (run / "metrics.json").exists()
    assert prov(run)["argv"][-1] == "model.hidden=[32]"


def test_a_resume_keeps_the_first_record_and_appends_its_own(train_in_process, workdir):
    from typer.testing import CliRunner

    from nnml.cli import app

    result, run = train_in_process()
    assert result.exit_code == 0, result.output
    first = prov(run)
    resumed = CliRunner().invoke(app, ["train", f"resume={run}", "trainer.max_epochs=3"])
    assert resumed.exit_code == 0, resumed.output
    assert run_dirs(workdir) == [run]
    p = prov(run)
    assert {k: v for k, v in p.items() if k != "resumes"} == first  # the first segment's record, as written
    (again,) = p["resumes"]
    assert again["argv"] == ["nnml", "train", f"resume={run}", "trainer.max_epochs=3"]
    assert again["from_epoch"] == 2 and again["threads"] == 1 and again["seeds"] == first["seeds"]
    segments = json.loads((run / "metrics.json").read_text())["segments"]
    assert [s["from_epoch"] for s in segments] == [first["from_epoch"], again["from_epoch"]]
