"""``nnml diff RUN_A RUN_B``: hand-made run folders for the rules (which keys differ, B−A, which run is better,
the environment from provenance.json, refused files), and one real two-job sweep read back through the CLI, whose
numbers are checked against the jobs' own metrics.json."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from nnml.errors import NnmlError
from nnml.sweep import diff as D
from tests.conftest import cli as run_in_process
from tests.conftest import invoke


def make_run(folder: Path, config: dict, metrics: dict | None = None, choices: dict | None = None,
             provenance: dict | None = None) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if choices is not None:
        hydra = {"hydra": {"runtime": {"choices": {**choices, "hydra/launcher": "basic"}}}}
        (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    if provenance is not None:
        (folder / "provenance.json").write_text(json.dumps(provenance))
    return folder


def cli(args):
    """The nnml app in this process: (exit code, stdout, stderr)."""
    r = invoke(args)
    return r.exit_code, r.stdout, r.stderr


CONFIG = {"model": {"_target_": "nnml.models.mlp.MLP", "hidden": [64, 64], "dropout": 0.1},
          "optimizer": {"_target_": "torch.optim.SGD", "lr": 0.1, "momentum": 0.9}, "scheduler": {}, "seed": 1}
DIRECTIONS = {"loss": "min", "acc": "max"}


def test_config_keys_that_differ_with_one_sided_keys_marked(tmp_path):
    b_config = {"model": {"_target_": "nnml.models.mlp.MLP", "hidden": [64, 32], "dropout": 0.1},
                "optimizer": {"_target_": "torch.optim.Adam", "lr": 0.1, "betas": [0.9, 0.999]},
                "scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 5}, "seed": 1}
    a = make_run(tmp_path / "a", CONFIG, choices={"optimizer": "momentum", "model": "mlp"})
    b = make_run(tmp_path / "b", b_config, choices={"optimizer": "adam", "model": "mlp"})
    result = D.diff_runs(a, b)
    assert result["choices"] == [{"key": "optimizer", "a": "momentum", "b": "adam", "only_in": None}]
    rows = {r["key"]: r for r in result["config"]}
    assert list(rows) == ["model.hidden", "optimizer._target_", "optimizer.momentum", "optimizer.betas", "scheduler",
                          "scheduler._target_", "scheduler.step_size"]  # a key only B has beside its node's keys
    assert rows["model.hidden"] == {"key": "model.hidden", "a": [64, 64], "b": [64, 32], "only_in": None}
    assert rows["optimizer.momentum"]["only_in"] == "a" and rows["optimizer.betas"]["only_in"] == "b"
    assert rows["scheduler"] == {"key": "scheduler", "a": {}, "b": None, "only_in": "a"}
    assert result["config_keys"] == 11  # 8 in A, 3 more in B
    assert D.diff_runs(a, a)["config"] == [] and D.diff_runs(a, a)["choices"] == []


def test_metrics_side_by_side_with_b_minus_a_and_the_better_run(tmp_path):
    ma = {"train/loss": 0.5, "val/loss": 0.40, "val/acc": 0.80, "test/acc": 0.75, "val/f1": 0.7, "test/mse": 1.0,
          "epochs": 3, "stop_reason": "max_epochs", "directions": DIRECTIONS}
    mb = {"train/loss": 0.6, "val/loss": 0.30, "val/acc": 0.80, "test/acc": 0.90, "val/f1": 0.6,
          "test/mse": float("nan"), "epochs": 5, "stop_reason": "early_stopping", "directions": DIRECTIONS}
    a = make_run(tmp_path / "a", CONFIG, ma)
    b = make_run(tmp_path / "b", CONFIG, mb)
    result = D.diff_runs(a, b)
    rows = {r["metric"]: r for r in result["metrics"]}
    assert [r["metric"] for r in result["metrics"]] == ["train/loss", "val/loss", "val/acc", "val/f1", "test/acc",
                                                        "test/mse"]  # train, val, test; metrics.json order within
    for name, row in rows.items():
        if name != "test/mse":
            assert row["diff"] == mb[name] - ma[name] and row["a"] == ma[name] and row["b"] == mb[name]
    assert rows["train/loss"]["better"] == "a" and rows["val/loss"]["better"] == "b"  # lower loss is better
    assert rows["test/acc"]["better"] == "b" and rows["val/acc"]["better"] == "same"
    assert rows["val/f1"]["direction"] is None and rows["val/f1"]["better"] is None  # no direction recorded: no guess
    assert rows["test/mse"]["b"] is None and rows["test/mse"]["diff"] is None  # NaN: no number, valid JSON
    json.loads(D.to_json(result))
    facts = {r["key"]: (r["a"], r["b"]) for r in result["run"]}
    assert facts["epochs"] == (3, 5) and facts["stop_reason"] == ("max_epochs", "early_stopping")
    assert facts["status"] == ("ok", "ok")


def test_directions_that_disagree_mark_no_better_run(tmp_path):
    a = make_run(tmp_path / "a", CONFIG, {"val/score": 1.0, "directions": {"score": "max"}})
    b = make_run(tmp_path / "b", CONFIG, {"val/score": 2.0, "directions": {"score": "min"}})
    (row,) = D.diff_runs(a, b)["metrics"]
    assert row["direction"] is None and row["better"] is None and row["diff"] == 1.0


def provenance(**changes) -> dict:
    base = {"format": 1, "created_at": "2026-01-01T00:00:00Z", "argv": ["nnml", "train"], "cwd": "/home/u/hw",
            "nnml": {"version": "0.1.0", "path": "/x/nnml", "git": {"root": "/x", "commit": "a" * 40, "dirty": False,
                                                                    "changed": []}},
            "user_code": {"my_models": {"path": "/home/u/hw/my_models.py",
                                        "git": {"commit": "c" * 40, "dirty": True, "diff": "+A = 1\n",
                                                "diff_sha256": "d1", "diff_bytes": 7},
                                        "files": {"my_models.py": "f1"}, "sha256": "s1"}},
            "versions": {"python": "3.11.7", "torch": "2.5.1", "numpy": "2.1.0", "cuda": None, "cudnn": None,
                         "packages": {"torch": "2.5.1"}},
            "machine": {"host": "laptop", "cpu": "AMD EPYC", "cpu_count": 8, "gpus": []},
            "device": "cpu", "threads": 4, "seeds": {"seed": 1}}
    for dotted, value in changes.items():
        node = base
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return base


def test_environment_and_code_from_provenance(tmp_path):
    pa = provenance()
    pb = provenance(created_at="2026-02-02T00:00:00Z", versions__torch="2.6.0", machine__host="cluster-7",
                    machine__gpus=["NVIDIA H100"], nnml__git__dirty=True, threads=1, seeds__seed=2)
    pb["user_code"]["my_models"]["git"].update(diff="+A = 2\n", diff_sha256="d2")
    pb["user_code"]["my_models"].update(files={"my_models.py": "f2"}, sha256="s2")
    a = make_run(tmp_path / "a", CONFIG, {}, provenance=pa)
    b = make_run(tmp_path / "b", CONFIG, {}, provenance=pb)
    result = D.diff_runs(a, b)
    env = {r["key"]: (r["a"], r["b"]) for r in result["environment"]}
    assert env == {
        "nnml.git.dirty": (False, True),
        "user_code.my_models.git.diff_sha256": ("d1", "d2"),  # the diff's text is in provenance.json, not here
        "user_code.my_models.files.my_models.py": ("f1", "f2"),
        "user_code.my_models.sha256": ("s1", "s2"),
        "versions.torch": ("2.5.1", "2.6.0"),
        "machine.host": ("laptop", "cluster-7"),
        "machine.gpus": ([], ["NVIDIA H100"]),
        "threads": (4, 1),
        "seeds.seed": (1, 2),
    }
    assert result["provenance"] == {"a": True, "b": True}

    plain = make_run(tmp_path / "old", CONFIG, {})
    one_sided = D.diff_runs(a, plain)
    assert one_sided["environment"] is None and one_sided["provenance"] == {"a": True, "b": False}


def test_a_python_tag_is_refused_with_file_and_line_and_never_runs(tmp_path):
    run = make_run(tmp_path / "evil", CONFIG, {})
    marker = tmp_path / "ran"
    text = (run / ".hydra" / "config.yaml").read_text().splitlines()
    text.insert(2, f"  extra: !!python/object/apply:os.system ['touch {marker}']")
    (run / ".hydra" / "config.yaml").write_text("\n".join(text) + "\n")
    good = make_run(tmp_path / "good", CONFIG, {})
    with pytest.raises(NnmlError) as e:
        D.diff_runs(good, run)
    message = str(e.value)
    assert message.startswith(f"{run / '.hydra' / 'config.yaml'}:3: a tag nnml does not load")
    assert "python/object/apply:os.system" in message and "\n" not in message
    assert not marker.exists()


def test_invalid_yaml_json_and_alias_bombs_are_one_line(tmp_path):
    good = make_run(tmp_path / "good", CONFIG, {})
    broken = make_run(tmp_path / "broken", CONFIG, {})
    (broken / ".hydra" / "config.yaml").write_text("model:\n  hidden: [64,\n  dropout: 0.1\nseed: 1\n")
    with pytest.raises(NnmlError, match=r"config\.yaml:\d+: invalid YAML"):
        D.diff_runs(good, broken)
    bomb = make_run(tmp_path / "bomb", CONFIG, {})
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    (bomb / ".hydra" / "config.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(NnmlError, match="too large or too deeply nested"):
        D.diff_runs(good, bomb)
    bad_json = make_run(tmp_path / "json", CONFIG, {})
    (bad_json / "metrics.json").write_text('{"val/acc": 0.5,\n "epochs": }')
    with pytest.raises(NnmlError, match=r"metrics\.json:2: invalid JSON"):
        D.diff_runs(good, bad_json)


def test_missing_and_non_run_folders_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = make_run(tmp_path / "good", CONFIG, {})
    (tmp_path / "sweep").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for other, needle in [("missing", "missing does not exist"), ("sweep", "sweep is not a run folder"),
                          ("file.txt", "file.txt is a file")]:
        code, out, err = cli(["diff", str(good), other])
        assert code == 2 and out == ""
        assert err.startswith("error: ") and needle in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_two_jobs_of_a_real_sweep(tmp_path):
    """nnml train -m optimizer=sgd,adam, then nnml diff on its two job folders (named optimizer=sgd, optimizer=adam),
    as JSON and as a table; copies with a provenance.json each add the environment."""
    proc = run_in_process(["train", "-m", "trainer.device=cpu", "trainer.num_threads=1", "trainer.max_epochs=1",
                    "logger=none", "optimizer=sgd,adam"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    sgd, adam = sweep / "optimizer=sgd", sweep / "optimizer=adam"
    out = run_in_process(["diff", str(sgd), str(adam), "--json"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["choices"] == [{"key": "optimizer", "a": "sgd", "b": "adam", "only_in": None}]
    config = {r["key"]: (r["a"], r["b"]) for r in result["config"]}
    assert config["optimizer._target_"] == ("torch.optim.SGD", "torch.optim.Adam")
    saved = [yaml.safe_load((d / ".hydra" / "config.yaml").read_text())["optimizer"] for d in (sgd, adam)]
    assert config["optimizer.lr"] == (saved[0]["lr"], saved[1]["lr"])
    assert all(k.startswith("optimizer.") for k in config)  # nothing else differs between the two jobs
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (sgd, adam))
    rows = {r["metric"]: r for r in result["metrics"]}
    assert set(rows) == {k for k in ma if "/" in k} and {"val/acc", "test/acc", "val/loss"} <= set(rows)
    for name, row in rows.items():
        assert row["a"] == ma[name] and row["b"] == mb[name] and math.isclose(row["diff"], mb[name] - ma[name])
        mode = ma["directions"][name.split("/", 1)[1]]
        want = "same" if ma[name] == mb[name] else ("b" if (mb[name] > ma[name]) == (mode == "max") else "a")
        assert row["direction"] == mode and row["better"] == want
    # Both jobs wrote provenance.json, and two jobs of one sweep ran with the same command, code and machine
    assert result["provenance"] == {"a": True, "b": True} and result["environment"] == []

    copies = []
    for d, host in ((sgd, "laptop"), (adam, "cluster-7")):
        copy = tmp_path / "copies" / d.name
        shutil.copytree(d, copy)
        (copy / "provenance.json").write_text(json.dumps(provenance(machine__host=host)))
        copies.append(copy)
    table = run_in_process(["diff", *map(str, copies)], cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    for needle in ("optimizer (group)", "torch.optim.SGD", "torch.optim.Adam", "machine.host", "laptop",
                   "cluster-7", "val/acc", "B−A"):
        assert needle in table.stdout, table.stdout
