"""The bad-input catalogue, through the real CLI (``python -m nnml``): every mistake gets one line on stderr that
names the key and the bad value and says what is valid (a close match for a typo), a non-zero exit code (2 for bad
input), no traceback, and outputs/ unchanged except the failed run's own folder where a run had started.

Most cases are refused before torch is imported or a run folder exists ("pre"); the rest need the data or torch
("job") and leave a run folder holding error.txt.
"""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import run_cli

FAST = ["trainer.num_threads=1", "trainer.device=cpu", "trainer.max_epochs=1"]

# (id, args, substrings the message must hold, "pre" or "job"); "{tmp}" is the test's temp folder.
CASES = [
    ("option-typo", ["optimizer=adamm"], ["optimizer=adamm", "did you mean 'adam'", "sgd"], "pre"),
    ("model-typo", ["model=mlpp"], ["model=mlpp", "did you mean 'mlp'", "cnn"], "pre"),
    ("dataset-typo", ["dataset=digit"], ["dataset=digit", "did you mean 'digits'", "moons"], "pre"),
    ("loss-typo", ["loss=cross_entropyy"], ["loss=cross_entropyy", "did you mean 'cross_entropy'"], "pre"),
    ("scheduler-typo", ["scheduler=cosin"], ["scheduler=cosin", "did you mean 'cosine'"], "pre"),
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
    ("lr-zero", ["optimizer.lr=0"], ["optimizer.lr=0", "a number > 0"], "pre"),
    ("lr-negative", ["optimizer.lr=-0.1"], ["optimizer.lr=-0.1", "a number > 0"], "pre"),
    ("lr-text", ["optimizer.lr=fast"], ["optimizer.lr='fast'", "a number > 0"], "pre"),
    ("device-unknown", ["trainer.device=gpu"], ["trainer.device='gpu'", "auto, cpu, cuda, cuda:N, mps"], "pre"),
    ("precision-unknown", ["trainer.precision=8"], ["trainer.precision=8", "32, bf16, 16"], "pre"),
    ("dropout-range", ["model.dropout=1.5"], ["model.dropout=1.5", "[0, 1)"], "pre"),
    ("seed-negative", ["seed=-1"], ["seed=-1", "integer >= 0"], "pre"),
    ("mode-unknown", ["trainer.mode=maximum"], ["trainer.mode='maximum'", "auto, min, max"], "pre"),
    ("threads-zero", ["trainer.num_threads=0"], ["trainer.num_threads=0", "auto or a positive integer"], "pre"),
    ("loader-unknown", ["dataset.loader=gpu"], ["dataset.loader='gpu'", "auto, memory, dataloader"], "pre"),
    ("hidden-zero", ["model.hidden=[0]"], ["model.hidden=[0]", "list of positive integers"], "pre"),
    ("not-an-override", ["3"], ["'3' is not an override", "key=value"], "pre"),
    ("unparsable", ["model.hidden=[1,"], ["'model.hidden=[1,' is not a valid override"], "pre"),
    ("append-existing", ["+seed=1"], ["+seed=", "already exists", "seed=..."], "pre"),
    ("target-refused", ["model._target_=os.system"], ["model._target_=os.system", "not an allowed target",
                                                      "allowed_targets"], "pre"),
    ("run-dir-under-file", ["hydra.run.dir={tmp}/afile/run"], ["hydra.run.dir=", "afile is a file, not a folder"],
     "pre"),
    ("resume-missing", ["resume={tmp}/nowhere"], ["resume=", "no such run folder or checkpoint"], "pre"),
    ("resume-not-a-run", ["resume={tmp}/empty"], ["resume=", "is not an nnml run folder"], "pre"),
    ("sweep-option-typo", ["-m", "optimizer=sgd,adamm"], ["optimizer=adamm", "did you mean 'adam'"], "pre"),
    ("sweep-bad-value", ["-m", "optimizer.lr=0.1,-1"], ["optimizer.lr=-1", "a number > 0"], "pre"),
    ("sweep-resume", ["-m", "resume={tmp}/empty"], ["cannot be combined with -m"], "pre"),
    ("activation-unknown", ["model.activation=relu6"], ["model.activation=relu6", "did you mean 'relu'", "tanh"],
     "job"),
    ("init-unknown", ["model.init=kaiming"], ["model.init=kaiming", "kaiming_normal"], "job"),
    ("loss-task-mismatch", ["loss=mse"], ["loss=mse", "does not fit a classification dataset", "cross_entropy"], "job"),
    ("regression-loss", ["dataset=diabetes", "loss=cross_entropy"], ["loss=cross_entropy", "regression", "mse"], "job"),
    ("monitor-typo", ["trainer.monitor=val/accc"], ["trainer.monitor=val/accc", "did you mean 'val/acc'"], "job"),
    ("fp16-on-cpu", ["trainer.precision=16"], ["trainer.precision=16", "needs a CUDA device", "bf16"], "job"),
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
    """A folder with an earlier run in outputs/ (it must stay untouched) and the files some cases point at."""
    tmp = tmp_path_factory.mktemp("bad")
    old = tmp / "outputs" / "train" / "runs" / "earlier"
    (old / "checkpoints").mkdir(parents=True)
    (old / "metrics.json").write_text(json.dumps({"test/acc": 0.97}))
    (old / "checkpoints" / "last.pt").write_bytes(b"earlier run")
    (tmp / "afile").write_text("a regular file, not a folder")
    (tmp / "empty").mkdir()
    bad = tmp / "baddata" / "mnist"
    bad.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (bad / name).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 12))
    return tmp


def _snapshot(root):
    return {p.relative_to(root): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def _check(result, needles, workspace, before_outputs, before_runs, stage):
    err = result.stderr
    assert result.returncode != 0, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle.format(tmp=workspace) in lines[0], (needle, lines[0])
    after = _snapshot(workspace / "outputs")
    new_runs = sorted(set((workspace / "outputs" / "train" / "runs").iterdir()) - before_runs)
    for path, info in before_outputs.items():
        assert after.get(path) == info, f"{path} changed"
    if stage == "pre":
        assert after.keys() == before_outputs.keys(), "a run was started for input refused up front"
        assert not new_runs
    else:
        assert len(new_runs) <= 1
        for run in new_runs:
            assert (run / "error.txt").read_text().strip() == lines[0].removeprefix("error: ")
            assert not (run / "checkpoints").exists() and not (run / "metrics.json").exists()


@pytest.mark.parametrize("case_id, args, needles, stage", CASES, ids=[c[0] for c in CASES])
def test_bad_train_input(workspace, case_id, args, needles, stage):
    if case_id == "fp16-on-cpu" and _cuda_available():
        pytest.skip("this machine has CUDA")
    args = [a.format(tmp=workspace) for a in args]
    flags = [a for a in args if a.startswith("-")]
    before = _snapshot(workspace / "outputs")
    runs = set((workspace / "outputs" / "train" / "runs").iterdir())
    result = run_cli(["train", *flags, *FAST, *[a for a in args if not a.startswith("-")]], workspace)
    _check(result, needles, workspace, before, runs, stage)
    assert result.returncode == 2, result.stderr
    assert not (workspace / "nodata").exists(), "a mistyped data root must not be created"


@pytest.mark.skipif("_cuda_available()")
def test_cuda_asked_for_where_there_is_none(workspace):
    before, runs = _snapshot(workspace / "outputs"), set((workspace / "outputs" / "train" / "runs").iterdir())
    result = run_cli(["train", *FAST, "trainer.device=cuda"], workspace)
    _check(result, ["trainer.device=cuda", "CUDA is not available", "trainer.device=cpu"], workspace, before, runs,
           "job")
    assert result.returncode == 2


OTHER = [
    ("eval-not-a-run", ["eval", "{tmp}/empty"], ["is not an nnml run folder", ".hydra/config.yaml"]),
    ("eval-missing", ["eval", "{tmp}/nowhere"], ["run folder", "does not exist"]),
    ("eval-split", ["eval", "{tmp}/empty", "--split", "tset"], ["--split tset", "test, train, val"]),
    ("list-group-typo", ["list", "optimzer"], ["group=optimzer", "did you mean 'optimizer'"]),
    ("multirun-and-cfg", ["train", "-m", "--cfg", "job", "optimizer=sgd,adam"], ["Only one of", "-m --cfg"]),
]


@pytest.mark.parametrize("case_id, args, needles", OTHER, ids=[c[0] for c in OTHER])
def test_bad_input_to_other_commands(workspace, case_id, args, needles):
    before, runs = _snapshot(workspace / "outputs"), set((workspace / "outputs" / "train" / "runs").iterdir())
    result = run_cli([a.format(tmp=workspace) for a in args], workspace)
    _check(result, needles, workspace, before, runs, "pre")
    assert result.returncode == 2


def test_debug_env_shows_the_traceback(workspace):
    result = run_cli(["train", *FAST, "optimizer.lr=-1"], workspace, env={"NNML_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr and "optimizer.lr=-1" in result.stderr
