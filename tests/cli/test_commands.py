"""The CLI end to end on tiny settings: train, its run folder and TensorBoard tags, eval reproducing training's test
metrics, Hydra's flags through Typer, list, completion, labs."""

import json
import re

from typer.testing import CliRunner

from nnml.cli import app
from tests.conftest import TINY, read_metrics, run_cli, run_dirs

runner = CliRunner()


def test_help_lists_commands_with_examples():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("train", "eval", "list", "board", "lab"):
        assert cmd in result.output
    assert "nnml train dataset=moons" in result.output


def test_train_help_is_hydras_with_groups(workdir):
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for group in ("dataset:", "optimizer:", "scheduler:", "Examples"):
        assert group in result.output


def test_cfg_job_prints_composed_config_without_running(workdir):
    result = runner.invoke(app, ["train", "--cfg", "job", "optimizer=sgd", "optimizer.lr=0.5"])
    assert result.exit_code == 0, result.output
    assert "torch.optim.SGD" in result.output and "lr: 0.5" in result.output
    assert not (workdir / "outputs" / "train" / "runs").exists() or not any(
        (p / "metrics.json").exists() for p in run_dirs(workdir))


def test_resolve_and_info_flags(workdir):
    r = runner.invoke(app, ["train", "--cfg", "job", "--resolve", "scheduler=cosine", "trainer.max_epochs=7"])
    assert r.exit_code == 0 and "T_max: 7" in r.output
    r = runner.invoke(app, ["train", "--info", "defaults"])
    assert r.exit_code == 0 and "dataset/digits" in r.output


def test_train_writes_a_complete_run_folder(train_in_process):
    result, run = train_in_process("logger=all")
    assert result.exit_code == 0, result.output
    assert (run / ".hydra" / "config.yaml").is_file()
    assert (run / "checkpoints" / "best.pt").is_file() and (run / "checkpoints" / "last.pt").is_file()
    assert (run / "train.log").read_text().count("epoch") >= 2
    m = read_metrics(run)
    for key in ("train/loss", "train/acc", "val/acc", "val/f1", "test/acc", "test/f1", "test/loss", "best_epoch",
                "epochs", "wall_time_s", "train_samples_per_s", "num_params", "device"):
        assert key in m, key
    assert m["epochs"] == 2 and m["device"] == "cpu" and 0 < m["test/acc"] <= 1
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch,step,train/loss")
    assert "nnml board" in result.output and "test" in result.output


def test_tensorboard_files_hold_the_documented_tags(train_in_process):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result, run = train_in_process("dataset=moons", "trainer.log_every_n_steps=5")
    assert result.exit_code == 0, result.output
    acc = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc", "train/lr", "train/grad_norm", "train/step_loss"):
        assert tag in scalars, (tag, scalars)
    # Every scalar under train/ or val/ (hparam/: the HParams tab's final values; train_layers/: the per-layer
    # statistics, a section sorted between them); none restates the step
    assert all(t.split("/")[0] in ("train", "val", "hparam", "train_layers") for t in scalars) and "epoch" not in scalars
    assert "train_layers/grad_norm/1:Linear" in scalars and "train_layers/dead/2:ReLU" in scalars
    assert len(acc.Scalars("train/loss")) == 2
    # The custom-scalars layout: the loss and the monitored metric of every run, one chart each
    from tensorboard.plugins.custom_scalar import layout_pb2

    raw = acc.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0]
    charts = {c.title: list(c.multiline.tag) for cat in layout_pb2.Layout.FromString(raw).category for c in cat.chart}
    assert sorted(charts.values()) == [["^(train|val)/loss$"], ["^val/acc$"]], charts
    assert set(acc.Tags()["images"]) >= {"test/confusion_matrix", "test/decision_boundary"}
    assert "config/text_summary" in acc.Tags()["tensors"]
    hp = acc.PluginTagToContent("hparams")
    assert hp, "no hparams summary"
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = plugin_data_pb2.HParamsPluginData.FromString(hp["_hparams_/session_start_info"])
    keys = set(content.session_start_info.hparams)
    assert {"optimizer", "dataset", "model", "optimizer.lr", "seed"} <= keys


def test_eval_json_reproduces_training_test_metrics(train_in_process, workdir):
    result, run = train_in_process()
    assert result.exit_code == 0, result.output
    r = runner.invoke(app, ["eval", str(run), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    m = read_metrics(run)
    assert got == {k: m[k] for k in ("test/loss", "test/acc", "test/f1")}
    r = runner.invoke(app, ["eval", str(run), "--split", "val", "--checkpoint", "best"])
    assert r.exit_code == 0 and "val" in r.output
    r = runner.invoke(app, ["eval", str(run), "--checkpoint", "last", "--json"])
    assert r.exit_code == 0 and "test/acc" in json.loads(r.stdout)


def test_regression_run_reports_r2(train_in_process):
    result, run = train_in_process("dataset=diabetes", "loss=mse")
    assert result.exit_code == 0, result.output
    m = read_metrics(run)
    assert {"test/r2", "test/mse", "test/mae", "val/r2"} <= set(m) and m["monitor"] == "val/loss"


def test_two_runs_in_the_same_second_get_two_folders(train_in_process):
    _, a = train_in_process("trainer.max_epochs=1")
    _, b = train_in_process("trainer.max_epochs=1")
    assert a != b and (a / "metrics.json").is_file() and (b / "metrics.json").is_file()


def test_multirun_sweeps_and_names_jobs_by_overrides(workdir):
    r = runner.invoke(app, ["train", "-m", "optimizer=sgd,adam", *TINY, "logger=none"])
    assert r.exit_code == 0, r.output
    jobs = sorted(p.name for p in (workdir / "outputs" / "train" / "multiruns").glob("*/*") if p.is_dir())
    assert len(jobs) == 2 and all("optimizer=" in j and "/" not in j for j in jobs)


def test_resume_extends_a_finished_run_in_its_own_folder(train_in_process, workdir):
    result, run = train_in_process()
    r = runner.invoke(app, ["train", f"resume={run}", "trainer.max_epochs=3"])
    assert r.exit_code == 0, r.output
    assert read_metrics(run)["epochs"] == 3
    assert len(run_dirs(workdir)) == 1


def test_resuming_a_finished_run_keeps_its_metrics_and_says_so(train_in_process, workdir):
    result, run = train_in_process()
    before = read_metrics(run)
    saved = (run / "metrics.json").read_bytes()
    r = runner.invoke(app, ["train", f"resume={run}"])
    assert r.exit_code == 0, r.output
    assert "already trained 2 epochs" in r.output
    assert (run / "metrics.json").read_bytes() == saved, "a finished run's result is never rewritten"
    after = read_metrics(run)
    assert {k: after[k] for k in before if k.startswith(("train/", "test/"))} == \
        {k: before[k] for k in before if k.startswith(("train/", "test/"))}
    r = runner.invoke(app, ["train", f"resume={run}", "trainer.max_epochs=3"])
    assert r.exit_code == 0 and read_metrics(run)["epochs"] == 3
    # The folder's config tells what the run now is; the first one is kept beside it.
    assert "max_epochs: 3" in (run / ".hydra" / "config.yaml").read_text()
    assert "max_epochs: 2" in (run / ".hydra" / "config.original.yaml").read_text()


def test_eval_refuses_a_group_override_in_one_line(train_in_process, workdir):
    _, run = train_in_process()
    r = run_cli(["eval", str(run), "dataset=moons"], cwd=workdir)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "dataset is a whole config group" in r.stderr


def test_list_shows_groups_and_descriptions():
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 0
    for word in ("dataset", "digits", "optimizer", "nesterov", "scheduler", "warmup_cosine"):
        assert word in r.output
    r = runner.invoke(app, ["list", "optimizer"])
    assert r.exit_code == 0 and "Kingma" in r.output and "digits" not in r.output
    r = runner.invoke(app, ["list", "optimiser"])
    assert r.exit_code == 2 and "did you mean 'optimizer'" in r.output


def test_completion_of_groups_options_and_keys():
    from nnml.config.catalog import complete_override

    assert "optimizer=" in complete_override("optim")
    assert "optimizer=nesterov" in complete_override("optimizer=")
    assert "trainer.max_epochs=" in complete_override("trainer.max")
    assert "model.hidden=" in complete_override("model.", ["model=mlp"])
    assert "model.channels=" in complete_override("model.", ["model=cnn"])


def test_lab_runs_through_the_cli_with_json(workdir):
    r = run_cli(["lab", "collapse", "steps=50", "--json"], cwd=workdir)
    assert r.returncode == 0, r.stderr
    numbers = json.loads(r.stdout)
    assert numbers["merged_rank"] == numbers["bottleneck"] == 3  # rank of W2 W1 is the bottleneck width
    runs = list((workdir / "outputs" / "lab" / "collapse").glob("*/results.json"))
    assert len(runs) == 1


def test_bad_override_is_one_line_with_exit_code_2(workdir):
    r = run_cli(["train", "trainer.max_epochs=abc"], cwd=workdir)
    assert r.returncode == 2
    assert "trainer.max_epochs='abc' is not valid" in r.stderr and "Traceback" not in r.stderr


def test_cli_module_imports_no_torch(workdir):
    """``nnml --help`` stays fast because the CLI module imports neither torch nor tensorboard."""
    import subprocess
    import sys

    code = "import sys, nnml.cli; print(sorted(m for m in ('torch', 'tensorboard', 'hydra') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_typed_group_choice_wins_over_an_experiment_preset(workdir, capsys):
    from nnml.cli.checks.precheck import precheck_train

    plan = precheck_train(["trainer=fast", "experiment=moons_tanh"])
    assert plan.extra == ["trainer.max_epochs=3"]
    assert "trainer.max_epochs=3 (the preset sets 40)" in plan.notes[0]
    assert precheck_train(["trainer=fast", "experiment=moons_tanh", "trainer.max_epochs=7"]).extra == []
    assert precheck_train(["experiment=moons_tanh"]).extra == []


def test_hydra_flags_anywhere(workdir):
    r = runner.invoke(app, ["train", "dataset=moons", "--cfg", "job", "optimizer=sgd"])
    assert r.exit_code == 0, r.output
    assert "_target_: torch.optim.SGD" in r.output and "nnml.data.synthetic.moons" in r.output


def test_summary_lists_layers_shapes_and_params(workdir):
    r = runner.invoke(app, ["summary", "model=cnn"])
    assert r.exit_code == 0, r.output
    for text in ("Conv2d", " 16x8x8 ", "MaxPool2d", "32x2x2", "output per sample", "4,640",
                 "22,602 parameters (22,602 trainable, 0 frozen)"):
        assert text in r.output, (text, r.output)


def test_header_and_piped_epoch_lines(train_in_process, monkeypatch):
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS")
    before = torch.get_num_threads()
    result, run = train_in_process("dataset=moons", "trainer.num_threads=auto")
    torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"\d threads? \(auto: [\d.]+ MFLOP per step", out), out  # the thread choice and why
    assert "Linear" in out and "trainable" in out  # the layer table
    assert " left)" in out and "loss auto (cross_entropy)" in out  # epoch time and time left in piped output
