"""The bad-input catalogue, through the real CLI: every mistake gets one line on stderr that names the key and the
bad value and says what is valid (a close match for a typo), exit code 2, no traceback, and outputs/ byte for byte
as it was (no new file, no new folder).

The catalogue runs the ``nnml`` Typer app in this process (typer's CliRunner: the same code from the command line
down, torch imported once); ``test_bad_input_as_a_process`` runs a sample of it as ``python -m nnml`` processes.
Most cases are refused before Hydra creates a run folder ("pre"); a few need the data or the machine ("job"):
those runs find the mistake inside the job and remove the folder they made, which held nothing else.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from nnml.config.targets import Trust
from tests.conftest import run_cli

FAST = ["trainer.num_threads=1", "trainer.device=cpu", "trainer.max_epochs=1"]

# (id, args, substrings the message must hold, "pre" or "job"); "{tmp}" is the test's temp folder.
CASES = [
    ("option-typo", ["optimizer=adamm"], ["optimizer=adamm", "did you mean 'adam'", "sgd"], "pre"),
    ("model-typo", ["model=mlpp"], ["model=mlpp", "did you mean 'mlp'", "cnn"], "pre"),
    ("dataset-typo", ["dataset=digit"], ["dataset=digit", "did you mean 'digits'", "moons"], "pre"),
    ("loss-typo", ["loss=cross_entropyy"], ["loss=cross_entropyy", "did you mean 'cross_entropy'"], "pre"),
    ("scheduler-typo", ["scheduler=cosin"], ["scheduler=cosin", "did you mean 'cosine'"], "pre"),
    ("model-for-other-task", ["model=vae_mlp"], ["model=vae_mlp is made for task=vae", "add task=vae",
                                                 "e.g. task=vae dataset.standardize=unit",
                                                 "models for task=auto and dataset=digits: ", "mlp"], "pre"),
    ("optimizer-for-other-task", ["optimizer=gan_adam"], ["optimizer=gan_adam is made for task=gan", "sgd"], "pre"),
    ("loss-unused-by-task", ["experiment=digits_vae", "loss=mse"], ["loss=mse is not used by task=vae",
                                                                     "drop loss=mse"], "pre"),
    ("optimizer-none-for-gradient-model", ["task=recommendation", "dataset=synthetic_interactions", "model=bpr",
                                           "optimizer=none"],
     ["optimizer=none builds no optimizer", "model=bpr", "add optimizer=adam"], "job"),
    ("unknown-flag", ["--epochs", "5"], ["--epochs is not a flag of nnml train", "trainer.max_epochs="], "pre"),
    ("flag-typo", ["--multirn", "optimizer=sgd,adam"], ["--multirn", "did you mean '--multirun'"], "pre"),
    ("help-with-a-group", ["--help", "optimizer"], ["'optimizer' is not an override", "nnml list optimizer"], "pre"),
    ("sweep-preset-without-m", ["experiment=compare_optimizers"], ["is a sweep preset", "nnml train -m"], "pre"),
    ("experiment-typo", ["experiment=digits_cnnn"], ["experiment=digits_cnnn", "did you mean 'digits_cnn'"], "pre"),
    ("group-typo", ["optimiser=sgd"], ["optimiser=sgd", "did you mean 'optimizer'", "dataset"], "pre"),
    ("key-typo", ["trainer.max_epoch=3"], ["trainer.max_epoch=3", "did you mean 'trainer.max_epochs'",
                                           "patience"], "pre"),
    ("lr-typo", ["optimizer.lrr=0.1"], ["optimizer.lrr=0.1", "did you mean 'optimizer.lr'"], "pre"),
    ("batch-typo", ["dataset.batchsize=32"], ["dataset.batchsize=32", "did you mean 'dataset.batch_size'"], "pre"),
    ("epochs-text", ["trainer.max_epochs=abc"], ["trainer.max_epochs='abc'", "positive integer"], "pre"),
    ("epochs-zero", ["trainer.max_epochs=0"], ["trainer.max_epochs=0", "positive integer"], "pre"),
    ("epochs-negative", ["trainer.max_epochs=-3"], ["trainer.max_epochs=-3", "positive integer"], "pre"),
    ("epochs-float", ["trainer.max_epochs=2.5"], ["trainer.max_epochs=2.5", "positive integer"], "pre"),
    ("batch-zero", ["dataset.batch_size=0"], ["dataset.batch_size=0", "positive integer"], "pre"),
    ("batch-negative", ["dataset.batch_size=-8"], ["dataset.batch_size=-8", "positive integer"], "pre"),
    ("lr-zero", ["optimizer.lr=0"], ["optimizer.lr=0", "a finite number > 0"], "pre"),
    ("lr-negative", ["optimizer.lr=-0.1"], ["optimizer.lr=-0.1", "a finite number > 0"], "pre"),
    ("lr-text", ["optimizer.lr=fast"], ["optimizer.lr='fast'", "a finite number > 0"], "pre"),
    ("device-unknown", ["trainer.device=gpu"], ["trainer.device='gpu'", "auto, cpu, cuda, cuda:N, mps"], "pre"),
    ("precision-unknown", ["trainer.precision=8"], ["trainer.precision=8", "32, bf16, 16"], "pre"),
    ("accumulate-zero", ["trainer.accumulate_grad_batches=0"], ["trainer.accumulate_grad_batches=0",
                                                                "positive integer"], "pre"),
    ("accumulate-manual-task", ["experiment=digits_gan", "trainer.accumulate_grad_batches=2"],
     ["trainer.accumulate_grad_batches=2", "GANTask steps its own", "accumulate_grad_batches=1"], "pre"),
    ("limit-above-one", ["trainer.limit_train_batches=1.5"], ["trainer.limit_train_batches=1.5",
                                                              "a fraction in (0, 1]"], "pre"),
    ("debug-typo", ["debug=fastt"], ["debug=fastt", "did you mean 'fast'"], "pre"),
    ("dropout-range", ["model.dropout=1.5"], ["model.dropout=1.5", "[0, 1)"], "pre"),
    ("seed-negative", ["seed=-1"], ["seed=-1", "an integer in [0, 2^32)"], "pre"),
    ("mode-unknown", ["trainer.mode=maximum"], ["trainer.mode='maximum'", "auto, min, max"], "pre"),
    ("threads-zero", ["trainer.num_threads=0"], ["trainer.num_threads=0", "auto or a positive integer"], "pre"),
    ("loader-unknown", ["dataset.loader=gpu"], ["dataset.loader='gpu'", "auto, memory, dataloader"], "pre"),
    ("hidden-zero", ["model.hidden=[0]"], ["model.hidden=[0]", "list of positive integers"], "pre"),
    ("auto-loss-key", ["+loss.reduction=sum"], ["loss.reduction=sum", "AutoLoss takes no argument"], "pre"),
    ("not-an-override", ["3"], ["'3' is not an override", "key=value"], "pre"),
    ("unparsable", ["model.hidden=[1,"], ["'model.hidden=[1,' is not a valid override"], "pre"),
    ("append-existing", ["+seed=1"], ["+seed=", "already exists", "seed=..."], "pre"),
    ("target-not-importable", ["model._target_=nnml.models.nope.Net"],
     ["model._target_=nnml.models.nope.Net cannot be imported"], "pre"),
    ("run-dir-under-file", ["hydra.run.dir={tmp}/afile/run"], ["hydra.run.dir=", "afile is a file, not a folder"],
     "pre"),
    ("resume-missing", ["resume={tmp}/nowhere"], ["resume=", "no such run folder or checkpoint"], "pre"),
    ("resume-not-a-run", ["resume={tmp}/empty"], ["resume=", "is not an nnml run folder"], "pre"),
    ("sweep-option-typo", ["-m", "optimizer=sgd,adamm"], ["optimizer=adamm", "did you mean 'adam'"], "pre"),
    ("sweep-bad-value", ["-m", "optimizer.lr=0.1,-1"], ["optimizer.lr=-1", "a finite number > 0"], "pre"),
    ("sweep-resume", ["-m", "resume={tmp}/empty"], ["cannot be combined with -m"], "pre"),
    # Hydra's flags anywhere on the line: nnml moves them first, where Hydra's parser wants them.
    ("flags-after-overrides", ["dataset=moons", "--multirun", "optimizer=sgd,adamm"],
     ["optimizer=adamm", "did you mean 'adam'"], "pre"),
    # Checks that need the data's facts or a component's signature, still before any folder exists.
    ("activation-unknown", ["model.activation=relu6"], ["model.activation=relu6", "did you mean 'relu'", "tanh"],
     "pre"),
    ("cnn-activation-unknown", ["model=cnn", "model.activation=tahn"], ["model.activation=tahn", "tanh"], "pre"),
    ("init-unknown", ["model.init=kaiming"], ["model.init=kaiming", "kaiming_normal"], "pre"),
    ("loss-task-mismatch", ["loss=mse"], ["loss=mse", "does not fit a classification dataset", "cross_entropy"],
     "pre"),
    ("regression-loss", ["dataset=diabetes", "loss=cross_entropy"], ["loss=cross_entropy", "regression", "mse"],
     "pre"),
    ("monitor-typo", ["trainer.monitor=val/accc"], ["trainer.monitor=val/accc", "did you mean 'val/acc'"], "pre"),
    ("monitor-not-a-metric", ["trainer.monitor=val/accuracy"], ["trainer.monitor=val/accuracy", "val/acc"], "pre"),
    ("monitor-of-other-task", ["dataset=diabetes", "loss=mse", "trainer.monitor=val/acc"],
     ["trainer.monitor=val/acc", "val/r2"], "pre"),
    ("mode-contradicts-acc", ["trainer.monitor=val/acc", "trainer.mode=min"],
     ["trainer.mode=min contradicts trainer.monitor=val/acc", "higher", "+trainer.force_mode=true"], "pre"),
    ("mode-contradicts-loss", ["trainer.monitor=val/loss", "trainer.mode=max"],
     ["trainer.mode=max contradicts trainer.monitor=val/loss", "lower"], "pre"),
    ("adam-momentum", ["+optimizer.momentum=0.9"],
     ["optimizer.momentum=0.9", "torch.optim.Adam takes no argument 'momentum'", "betas", "optimizer=momentum"],
     "pre"),
    ("sgd-betas", ["optimizer=sgd", "+optimizer.betas=[0.9,0.99]"], ["optimizer.betas=", "SGD takes no argument",
                                                                     "optimizer=adam"], "pre"),
    ("loss-key-typo", ["loss=cross_entropy", "+loss.smoothing=0.1"], ["loss.smoothing=0.1", "did you mean 'label_smoothing'"], "pre"),
    ("model-key-unknown", ["+model.width=64"], ["model.width=64", "MLP takes no argument 'width'", "hidden"], "pre"),
    ("dataset-key-unknown", ["+dataset.noise=0.3"], ["dataset.noise=0.3", "takes no argument 'noise'",
                                                     "option of dataset that takes noise"], "pre"),
    ("target-swapped-leftover-key", ["loss._target_=torch.nn.NLLLoss"],
     ["loss.label_smoothing=0.0", "NLLLoss takes no argument", "drop it with ~loss.label_smoothing"], "pre"),
    ("scheduler-key-added", ["scheduler=step", "+scheduler.stepsize=3"],
     ["scheduler.stepsize=3", "did you mean 'step_size'"], "pre"),
    ("scheduler-none-key", ["scheduler.step_size=5"],
     ["scheduler.step_size=5", "scheduler=none has no keys", "choose a scheduler first, e.g. scheduler=step"], "pre"),
    ("logger-key-unknown", ["+logger.tensorboard.flush=1"], ["logger.tensorboard.flush=1", "flush_secs"], "pre"),
    ("cnn-on-tabular", ["model=cnn", "dataset=moons"], ["model=cnn needs image data", "input_shape=(2,)"], "pre"),
    ("cnn-on-iris", ["model=cnn", "dataset=iris"], ["model=cnn needs image data", "input_shape=(4,)"], "pre"),
    ("sweep-adam-momentum", ["-m", "optimizer=sgd,adam", "+optimizer.momentum=0.9"],
     ["torch.optim.Adam takes no argument 'momentum'"], "pre"),
    ("sweep-monitor", ["-m", "trainer.monitor=val/acc,val/accuracy"], ["trainer.monitor=val/accuracy"], "pre"),
    ("sweep-cnn-datasets", ["-m", "model=cnn", "dataset=digits,wine"], ["model=cnn needs image data"], "pre"),
    ("fp16-on-cpu", ["trainer.precision=16"], ["trainer.precision=16", "needs a CUDA device", "bf16"], "pre"),
    # Keys nothing would read, and values no library should be the first to see.
    ("trainer-key-added-with-a-typo", ["+trainer.max_epochz=3"],
     ["trainer.max_epochz=3", "no key 'max_epochz'", "did you mean 'max_epochs'"], "pre"),
    ("split-fractions-leave-no-training-data", ["dataset.val_fraction=0.6", "dataset.test_fraction=0.5"],
     ["dataset.val_fraction=0.6 and dataset.test_fraction=0.5 add up to 1.1", "below 1"], "pre"),
    ("optimizer-value-torch-refuses", ["optimizer=adam", "optimizer.betas=[2,3]"],
     ["optimizer: torch.optim.Adam refused its values", "betas=[2, 3]", "Invalid beta parameter at index 0: 2"],
     "pre"),
    ("scheduler-value-torch-refuses", ["scheduler=plateau", "scheduler.factor=2"],
     ["scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau refused its values", "factor=2", "Factor should be"],
     "pre"),
    ("scheduler-step-size-zero", ["scheduler=step", "scheduler.step_size=0"],
     ["scheduler.step_size=0 is not valid", "a positive integer"], "pre"),
    ("onecycle-negative-rate", ["scheduler=onecycle", "scheduler.max_lr=-1"],
     ["scheduler.max_lr=-1 is not valid", "a finite number > 0"], "pre"),
    ("one-class-spirals", ["dataset=spirals", "dataset.classes=1"],
     ["dataset.classes=1 is not valid", "at least 2"], "pre"),
    ("conv-layer-of-no-channels", ["model=cnn", "model.channels=[16,0]"],
     ["model.channels=[16, 0] is not valid", "e.g. model.channels=[16,32]"], "pre"),
    # Dataset, task and model that do not fit: the line names what fits and one change that trains.
    ("dataset-needs-its-task", ["dataset=shapes"],
     ["dataset=shapes is made for task=segmentation", "not task=auto", "the tasks for dataset=shapes: segmentation",
      "e.g. task=segmentation model="], "pre"),
    ("points-under-task-auto", ["dataset=grid"],
     ["dataset=grid is made for task=gan or task=vae (it gives points2d data)", "the tasks for dataset=grid: gan, vae",
      "e.g. task=gan model=gan_mlp"], "pre"),
    ("interactions-under-task-auto", ["dataset=synthetic_interactions"],
     ["(it gives interactions data)", "e.g. task=recommendation model="], "pre"),
    ("task-needs-its-dataset", ["task=segmentation"],
     ["dataset=digits is made for", "not task=segmentation", "datasets for task=segmentation: shapes",
      "e.g. dataset=shapes model="], "pre"),
    ("token-ids-to-an-mlp", ["dataset=langid", "model=mlp"],
     ["model=mlp takes float features", "dataset=langid gives token ids", "models for task=auto and dataset=langid: "
      "bag_of_embeddings, text_cnn, text_rnn, text_transformer", "e.g. model=bag_of_embeddings"], "pre"),
    ("token-ids-to-a-cnn", ["dataset=langid", "model=cnn"],
     ["model=cnn takes float features", "e.g. model=bag_of_embeddings"], "pre"),
    ("model-needs-a-fact-the-data-lacks", ["dataset=wine", "model=text_transformer"],
     ["model=text_transformer needs vocab_size (dataset=", "langid", "which dataset=wine does not give",
      "models for task=auto and dataset=wine: linear, mlp, scratch_mlp", "e.g. model=linear"], "pre"),
    ("conv-gan-on-points", ["task=gan", "dataset=ring", "model=gan_dcgan"],
     ["model=gan_dcgan does not fit dataset=ring", "models for task=gan and dataset=ring: gan_mlp",
      "e.g. model=gan_mlp"], "pre"),
    ("bernoulli-vae-on-standardized-data", ["task=vae", "model=vae_mlp"],
     ["task.likelihood=bernoulli needs values in [0, 1]", "e.g. dataset.standardize=unit"], "pre"),
    ("bernoulli-vae-on-points", ["task=vae", "dataset=ring", "model=vae_mlp"],
     ["task.likelihood=bernoulli needs values in [0, 1]", "e.g. task.likelihood=gaussian"], "pre"),
    # A user's config folder (-cd DIR) gets the same one-line checks, wherever the flag is typed.
    ("cd-option-typo", ["-cd", "{tmp}/ucfg", "optimizer=mysgdd"], ["optimizer=mysgdd", "did you mean 'mysgd'"],
     "pre"),
    ("cd-flag-last", ["optimizer=mysgdd", "-cd", "{tmp}/ucfg"], ["optimizer=mysgdd", "did you mean 'mysgd'"], "pre"),
    ("cd-key-typo", ["-cd", "{tmp}/ucfg", "optimizer=mysgd", "optimizer.lrr=3"],
     ["optimizer.lrr=3", "did you mean 'optimizer.lr'"], "pre"),
    ("cd-bad-value", ["--config-dir={tmp}/ucfg", "optimizer=mysgd", "optimizer.lr=-1"],
     ["optimizer.lr=-1", "a finite number > 0"], "pre"),
    ("cd-typo-in-own-file", ["-cd", "{tmp}/ucfg", "optimizer=mybad"],
     ["optimizer.momentom=0.5", "did you mean 'momentum'"], "pre"),
    ("cd-missing", ["-cd", "{tmp}/nowhere"], ["-cd", "no such folder"], "pre"),
    # Found inside the job (they need the data or the machine): the job removes the folder it made.
    ("mnist-missing", ["dataset=mnist", "dataset.download=false", "dataset.root={tmp}/nodata"],
     ["dataset.root", "is missing and dataset.download=false"], "job"),
    ("mnist-corrupt", ["dataset=mnist", "dataset.download=false", "dataset.root={tmp}/baddata"],
     ["dataset.root", "train-images-idx3-ubyte.gz has MD5", "corrupt"], "job"),
]


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with an earlier run and a failed run in outputs/ (they must stay untouched), a config folder of
    the user's own (-cd) and the files some cases point at."""
    tmp = tmp_path_factory.mktemp("bad")
    old = tmp / "outputs" / "train" / "runs" / "earlier"
    (old / "checkpoints").mkdir(parents=True)
    (old / "metrics.json").write_text(json.dumps({"test/acc": 0.97}))
    (old / "checkpoints" / "last.pt").write_bytes(b"earlier run")
    failed = tmp / "outputs" / "train" / "runs" / "failed"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (failed / "error.txt").write_text("RuntimeError: the loss became nan at epoch 3\n")
    (tmp / "afile").write_text("a regular file, not a folder")
    (tmp / "empty").mkdir()
    opt = tmp / "ucfg" / "optimizer"
    opt.mkdir(parents=True)
    (opt / "mysgd.yaml").write_text("# my SGD\n_target_: torch.optim.SGD\n_partial_: true\nlr: 0.05\n"
                                    "momentum: 0.5\n")
    (opt / "mybad.yaml").write_text("# a typo inside\n_target_: torch.optim.SGD\n_partial_: true\nlr: 0.05\n"
                                    "momentom: 0.5\n")
    bad = tmp / "baddata" / "mnist"
    bad.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (bad / name).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 12))
    return tmp


def _snapshot(root):
    """Every file (bytes and mtime) and every folder under ``root``."""
    return {p.relative_to(root): (p.stat().st_mtime_ns, p.read_bytes()) if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _invoke(args, cwd):
    """The nnml app in this process, in ``cwd``: (exit code, stderr, the exception other than SystemExit)."""
    from typer.testing import CliRunner

    from nnml.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(app, args)
    finally:
        os.chdir(old)
    crash = r.exception if r.exception is not None and not isinstance(r.exception, SystemExit) else None
    return r.exit_code, r.stderr, crash


def _check(code, err, needles, workspace, before):
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle.format(tmp=workspace) in lines[0], (needle, lines[0])
    after = _snapshot(workspace / "outputs")
    assert after == before, f"outputs/ changed: {sorted(set(after) ^ set(before))}"


@pytest.mark.parametrize("case_id, args, needles, stage", CASES, ids=[c[0] for c in CASES])
def test_bad_train_input(workspace, case_id, args, needles, stage, monkeypatch):
    import nnml.cli.train

    if case_id == "fp16-on-cpu" and _cuda_available():
        pytest.skip("this machine has CUDA")
    args = [a.format(tmp=workspace) for a in args]
    before = _snapshot(workspace / "outputs")
    claimed = []
    claim = nnml.cli.train.claim
    monkeypatch.setattr(nnml.cli.train, "claim", lambda plan: claimed.append(plan.folder) or claim(plan))
    code, err, crash = _invoke(["train", *FAST, *args], workspace)
    assert crash is None, repr(crash)
    _check(code, err, needles, workspace, before)
    if stage == "pre":
        assert not claimed, "a run folder was made for input that could be refused up front"
    assert not (workspace / "nodata").exists(), "a mistyped data root must not be created"


@pytest.mark.skipif("_cuda_available()")
def test_cuda_asked_for_where_there_is_none(workspace):
    before = _snapshot(workspace / "outputs")
    code, err, _ = _invoke(["train", *FAST, "trainer.device=cuda"], workspace)
    _check(code, err, ["trainer.device=cuda", "CUDA is not available", "trainer.device=cpu"], workspace, before)


OTHER = [
    ("eval-not-a-run", ["eval", "{tmp}/empty"], ["is not an nnml run folder", ".hydra/config.yaml"]),
    ("eval-missing", ["eval", "{tmp}/nowhere"], ["nowhere", "no such run folder"]),
    ("eval-split", ["eval", "{tmp}/empty", "--split", "tset"], ["--split tset", "test, train, val"]),
    ("eval-failed-run", ["eval", "{tmp}/outputs/train/runs/failed"],
     ["is a failed run", "the loss became nan at epoch 3"]),
    ("list-group-typo", ["list", "optimzer"], ["group=optimzer", "did you mean 'optimizer'"]),
    ("list-cd-missing", ["list", "-cd", "{tmp}/nowhere"], ["-cd", "no such folder"]),
    ("multirun-and-cfg", ["train", "-m", "--cfg", "job", "optimizer=sgd,adam"], ["Only one of", "-m --cfg"]),
    ("lab-value", ["lab", "uat", "target=sine"], ["target=sine", "did you mean 'sin'"]),
    ("lab-key-typo", ["lab", "uat", "targt=sin"], ["'targt' is not a key of lab uat", "did you mean 'target'"]),
    ("lab-unknown", ["lab", "uatt"], ["lab=uatt", "did you mean 'uat'"]),
]


@pytest.mark.parametrize("case_id, args, needles", OTHER, ids=[c[0] for c in OTHER])
def test_bad_input_to_other_commands(workspace, case_id, args, needles):
    before = _snapshot(workspace / "outputs")
    code, err, crash = _invoke([a.format(tmp=workspace) for a in args], workspace)
    assert crash is None, repr(crash)
    _check(code, err, needles, workspace, before)


def test_catalogue_size():
    assert len(CASES) + len(OTHER) >= 25


AS_PROCESS = ["adam-momentum", "flags-after-overrides"]


@pytest.mark.parametrize("case_id", AS_PROCESS)
def test_bad_input_as_a_process(workspace, case_id):
    """The same refusals from a real ``python -m nnml`` process (its own exit code and stderr)."""
    _, args, needles, _ = next(c for c in CASES if c[0] == case_id)
    before = _snapshot(workspace / "outputs")
    r = run_cli(["train", *FAST, *[a.format(tmp=workspace) for a in args]], workspace)
    _check(r.returncode, r.stderr, needles, workspace, before)


def test_lab_refusal_as_a_process(workspace):
    before = _snapshot(workspace / "outputs")
    r = run_cli(["lab", "uat", "target=sine"], workspace)
    _check(r.returncode, r.stderr, ["target=sine", "did you mean 'sin'"], workspace, before)


def test_debug_env_shows_the_traceback(workspace):
    result = run_cli(["train", *FAST, "optimizer.lr=-1"], workspace, env={"NNML_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr and "optimizer.lr=-1" in result.stderr


def test_dataset_facts_match_the_builders():
    """The table of facts that the checks use instead of building the data says what each builder returns: every
    shipped dataset that builds offline, built tiny (its exact facts equal, its stand-ins' names present)."""
    import torch

    from nnml.cli.checks.facts import DATASETS, dataset_facts
    from nnml.config.catalog import needs_files, options
    from nnml.run.build import build_data
    from tests.conftest import compose, tiny_data

    checked = 0
    for name in options("dataset"):
        cfg = compose([f"dataset={name}", *tiny_data(name)]).dataset
        if cfg._target_ not in DATASETS or needs_files("dataset", name):
            continue  # downloads and the user's files (mnist's shape: tests/data/test_datasets.py)
        facts = dataset_facts(cfg)
        data = build_data(cfg, seed=0, trust=Trust())
        built = {"input_shape": tuple(data.input_shape), "num_outputs": data.num_outputs}
        assert data.task == facts["task"], name
        assert {k: built[k] for k in facts["exact"]} == {k: facts[k] for k in facts["exact"]}, name
        assert set(facts["meta"]) <= set(data.meta), name
        x = data.split("train")[0]
        tokens = isinstance(x, torch.Tensor) and not x.is_floating_point() and data.task != "interactions"
        assert tokens == facts["tokens"], name
        checked += 1
    assert checked >= 20


def test_every_shipped_option_passes_the_signature_check():
    """No false refusals: every shipped option's keys are parameters of what it builds."""
    from omegaconf import OmegaConf

    from nnml.cli.checks.semantic import _check_node
    from nnml.config.catalog import groups

    checked = 0
    for group, folder in groups().items():
        for path in sorted(folder.glob("*.yaml")):
            node = OmegaConf.to_container(OmegaConf.load(path))
            if not isinstance(node, dict) or "defaults" in node:
                continue
            for key, sub in ([(group, node)] if "_target_" in node else
                             [(f"{group}.{k}", v) for k, v in node.items() if isinstance(v, dict) and "_target_" in v]):
                _check_node(sub, key, group, Trust())
                checked += 1
    assert checked >= 40


def test_shipped_combinations_pass_the_checks(workspace):
    """No false refusals: each dataset with the default model (and a loss that fits), each model and preset."""
    from nnml.cli.checks.precheck import precheck_train
    from nnml.config import config_dir
    from nnml.config.catalog import options, supervised_options

    # Options of other tasks are checked by their tracks' tests; sequence models read MNIST-1D; two presets need a
    # run folder of the user's (a teacher, a pretrained encoder) and say so in one line.
    sequences = ("cnn1d", "gru", "lstm")
    needs_run = ("digits_distill", "label_efficiency")
    jobs = [[f"dataset={d}"] + (["loss=mse"] if d in ("diabetes", "function") else [])
            + (["model=text_cnn"] if d in ("langid", "text_csv") else []) for d in supervised_options("dataset")]
    jobs += [[f"model={m}"] + (["dataset=mnist1d"] if m in sequences else []) for m in supervised_options("model")]
    jobs += [[f"experiment={e}"] for e in options("experiment")
             if e != "compare_optimizers" and e not in needs_run and "sweeper:" not in
             (Path(config_dir()) / "experiment" / f"{e}.yaml").read_text()]
    jobs += [["-m", "experiment=compare_optimizers"], ["logger=all", "scheduler=onecycle", "loss=nll"],
             ["trainer.monitor=val/loss", "trainer.mode=min"], ["trainer.monitor=val/acc", "trainer.mode=min",
                                                                 "+trainer.force_mode=true"]]
    old = os.getcwd()
    os.chdir(workspace)
    try:
        for job in jobs:
            precheck_train([*FAST, *job])
    finally:
        os.chdir(old)
