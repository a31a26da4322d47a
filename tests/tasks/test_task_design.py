"""The task design (issue 9) through the real CLI, with tasks and a model written in a user's own files
(tests/tasks/user_code: toy_tasks.py, my_models.py, conf/): a task with two optimizers stepping alternately and a
task with no optimizer at all each train, are killed with SIGKILL mid-run, resume, and end bit-identical to an
uninterrupted run (every tensor of every module, optimizer slot and the task's own state). A user's model and
task work from a ``-cd`` folder; a copied run folder naming a module the run never named is refused without
importing it; a run folder from before tasks existed still evaluates and resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import read_metrics, run_cli, run_dirs

USER_CODE = Path(__file__).parent / "user_code"
COMMON = ["trainer.num_threads=1", "trainer.device=cpu", "trainer.checkpoint_every_n_epochs=1", "logger=none"]
TWO = ["train", "-cd", "conf", "task=two_players", "dataset=moons", "dataset.batch_size=16",
       "trainer.max_epochs=5", "trainer.log_every_n_steps=5", *COMMON]
CLOSED = ["train", "-cd", "conf", "task=closed_form", "dataset=diabetes", "dataset.batch_size=8",
          "trainer.max_epochs=5", *COMMON]


def user_folder(tmp_path: Path) -> Path:
    """A student's folder: their modules and config folder, nothing installed."""
    cwd = tmp_path / "student"
    shutil.copytree(USER_CODE, cwd)
    return cwd


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def killed_then_resumed(cwd: Path, args: list[str]) -> Path:
    """Start a run, SIGKILL it once its first checkpoint exists, then resume it to the end."""
    proc = subprocess.Popen([sys.executable, "-m", "nnml", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + 300  # only against a hang
    while not list(cwd.glob("outputs/train/runs/*/checkpoints/last.pt")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    (run,) = run_dirs(cwd)
    done = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["loop"]["epoch"]
    assert done < 5, "the run finished before it was killed; nothing was resumed"
    # The run's own code is named again on the command line that resumes it: a folder's allowed_targets is data.
    ok(run_cli(["train", f"resume={run}", "trainer.num_threads=1", "allowed_targets=[toy_tasks.]"], cwd))
    return run


def flat_tensors(obj, prefix="") -> dict:
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flat_tensors(v, f"{prefix}/{k}"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flat_tensors(v, f"{prefix}/{i}"))
    elif isinstance(obj, (int, float, str, bool)) or obj is None:
        out[prefix] = obj
    return out


def assert_same_state(run: Path, reference: Path) -> None:
    a = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)
    for part in ("modules", "slots", "task"):
        fa, fb = flat_tensors(a[part]), flat_tensors(b[part])
        assert fa.keys() == fb.keys(), part
        for k in fa:
            if isinstance(fa[k], torch.Tensor):
                assert torch.equal(fa[k], fb[k]), f"{part}{k}"
            else:
                assert fa[k] == fb[k], f"{part}{k}"
    ma, mb = read_metrics(run), read_metrics(reference)
    for k in mb:
        if k.startswith(("test/", "val/", "train/")) or k in ("best_epoch", "epochs"):
            assert ma[k] == mb[k], k


@pytest.mark.slow
@pytest.mark.parametrize("args", [TWO, CLOSED], ids=["two_optimizers", "no_optimizer"])
def test_user_task_resumes_bit_identical_after_sigkill(tmp_path, args):
    ref_cwd = user_folder(tmp_path / "ref")
    ok(run_cli(args, ref_cwd))
    (reference,) = run_dirs(ref_cwd)
    run = killed_then_resumed(user_folder(tmp_path / "killed"), args)
    assert_same_state(run, reference)


def test_two_optimizer_task_steps_each_slot_as_configured(tmp_path):
    """Each slot has its own optimizer and scheduler: the generator's StepLR halves its rate every 2 epochs, the
    discriminator's Adam keeps its own; metrics.json holds the task's metrics and their directions."""
    cwd = user_folder(tmp_path)
    ok(run_cli(TWO, cwd))
    (run,) = run_dirs(cwd)
    m = read_metrics(run)
    assert m["directions"] == {"d_loss": "min", "g_loss": "min", "loss": "min"}
    assert m["monitor"] == "val/d_loss" and m["mode"] == "min"
    assert {"train/d_loss", "train/g_loss", "val/d_loss", "test/d_loss", "test/fixed_mean"} <= m.keys()
    slots = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["slots"]
    assert slots["generator"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.005 * 0.5 ** 2)
    assert slots["discriminator"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01)
    assert slots["discriminator"]["scheduler"] is None


def test_user_task_in_a_sweep_and_compare(tmp_path):
    """A task from the user's own file in a sweep: the summary ranks by its own monitored metric (lower mse first,
    from the directions it recorded), and nnml compare shows its metrics."""
    cwd = user_folder(tmp_path)
    ok(run_cli(["train", "-m", *CLOSED[1:], "task.ridge=0.001,1000"], cwd))
    (sweep,) = list((cwd / "outputs" / "train" / "multiruns").iterdir())
    summary = (sweep / "summary.md").read_text()
    assert "val/mse" in summary
    rows = json.loads(ok(run_cli(["compare", str(sweep), "--format", "json"], cwd)).stdout)
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    values = [r["val/mse"] for r in rows]
    assert values == sorted(values)  # best (smallest) first: mse is a "min" metric


def test_student_model_from_own_folder_trains_and_evaluates(tmp_path):
    """model=tiny_net from conf/model/tiny_net.yaml naming my_models.TinyNet in the current folder: no PYTHONPATH,
    no allowed_targets; a model that takes no data facts and a plain function as a loss work too."""
    cwd = user_folder(tmp_path)
    env = {"PYTHONPATH": os.environ["PYTHONPATH"]}  # the checkout only, not the student's folder
    ok(run_cli(["train", "-cd", "conf", "model=tiny_net", "trainer.max_epochs=2", *COMMON], cwd, env=env))
    ok(run_cli(["train", "dataset=moons", "model._target_=my_models.NoFacts", "~model.hidden",
                "~model.activation", "~model.dropout", "~model.batch_norm", "~model.init", "~model.layer_norm",
                "loss._target_=my_models.make_loss", "~loss.label_smoothing", "optimizer.lr=0.05",
                "trainer.max_epochs=4", *COMMON],
               cwd, env=env))
    first, second = run_dirs(cwd)
    saved = (first / ".hydra" / "config.yaml").read_text()
    assert "my_models." in saved.split("allowed_targets:")[1]  # recorded, for the record: never trusted from there
    refused = run_cli(["eval", str(first), "--json"], cwd)
    assert refused.returncode == 2 and "--allow my_models." in refused.stderr, refused.stderr
    evaluated = json.loads(ok(run_cli(["eval", str(first), "--json", "--allow", "my_models."], cwd)).stdout)
    assert evaluated["test/acc"] == pytest.approx(read_metrics(first)["test/acc"])
    assert read_metrics(second)["test/acc"] > 0.7  # a linear model on moons: ~0.85


def test_copied_run_naming_a_module_it_never_named_is_refused_unimported(tmp_path):
    cwd = user_folder(tmp_path)
    ok(run_cli(["train", "dataset=moons", "trainer.max_epochs=1", *COMMON], cwd))
    (run,) = run_dirs(cwd)
    cfg = run / ".hydra" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("_target_: nnml.models.mlp.MLP", "_target_: evil.Model"))
    for args in (["eval", str(run)], ["train", f"resume={run}", "trainer.max_epochs=2"]):
        r = run_cli(args, cwd)
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "evil.Model is not allowed" in lines[0], r.stderr
    assert not (cwd / "evil_was_imported.txt").exists()


def test_run_folder_from_before_tasks_evaluates_and_resumes(tmp_path):
    """A run folder as nnml wrote it before tasks: no task in its config, checkpoints with model/optimizer/
    scheduler/scaler only, metrics.json without directions."""
    cwd = tmp_path
    ok(run_cli(["train", "trainer.max_epochs=2", *COMMON], cwd))
    (run,) = run_dirs(cwd)
    for name in ("last.pt", "best.pt"):
        path = run / "checkpoints" / name
        ckpt = torch.load(path, weights_only=True)
        for key in ("format", "modules", "slots", "task"):
            ckpt.pop(key, None)
        torch.save(ckpt, path)
    from omegaconf import OmegaConf

    cfg = run / ".hydra" / "config.yaml"
    saved = OmegaConf.load(cfg)
    del saved["task"]
    OmegaConf.save(saved, cfg)
    assert "SupervisedTask" not in cfg.read_text()
    metrics = read_metrics(run)
    for key in ("directions", "mode", "task"):
        metrics.pop(key)
    (run / "metrics.json").write_text(json.dumps(metrics))
    evaluated = json.loads(ok(run_cli(["eval", str(run), "--json"], cwd)).stdout)
    assert evaluated["test/acc"] == metrics["test/acc"]
    ok(run_cli(["train", f"resume={run}", "trainer.max_epochs=3", "trainer.num_threads=1"], cwd))
    assert read_metrics(run)["epochs"] == 3
