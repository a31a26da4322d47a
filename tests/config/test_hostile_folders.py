"""Hostile run folders (issue 20): a run folder from someone else runs no code, and no run folder is ever damaged.

Each hostile folder is a copy of a small real run with one thing made malicious: a ``_target_`` that loads or runs
code in one of the config's slots, a stored ``allowed_targets`` that would trust everything, a resolver or an
interpolation that assembles a target after the check, a target hidden deep in lists, a pickle in a checkpoint,
a ``!!python`` tag, broken YAML or an alias bomb. Every payload would create a marker file if it ran.

Every hostile folder is handed to every command and builder that reads a run folder (:data:`READERS`: a new reader
is covered by adding one line there). Each must leave the marker absent, the folder byte for byte as it was (no
new, changed or removed file) and no new run folder; a reader that builds from the folder (or loads the
checkpoint that holds the payload) must refuse in one line on stderr, exit 2, without a traceback, naming what it
refused. The readers that read folders as data only (compare, diff, sweep-plot) may answer or refuse; they run
nothing either way.

The commands run in this process (typer's CliRunner); the signal and lock tests run ``python -m nnml``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import invoke, run_cli, run_dirs

# ~40 s: three tiny real runs, then ~500 refusals in this process.
pytestmark = pytest.mark.slow

TINY = ["trainer.max_epochs=1", "trainer.device=cpu", "trainer.num_threads=1", "logger=none"]
# The classification run every supervised reader gets a copy of: digits in [0, 1] so that it also serves as a GAN's
# feature network, a kept epoch checkpoint (epoch-0001.pt) besides best.pt and last.pt.
SUPERVISED = ["dataset.standardize=unit", "model.hidden=[16]", "trainer.save_top_k=1"]
CONTRASTIVE = ["task=contrastive", "dataset=digits", "model=mlp", "model.hidden=[16]", "model.dropout=0",
               "task.projection_dim=8", "task.projection_hidden=16", "task.probe.every_n_epochs=1",
               "task.embeddings.max_points=100"]


# ---------------------------------------------------------------------------------------------- the readers
@dataclass(frozen=True)
class Reader:
    """A command that reads a run folder. ``args(run, tmp)`` is its command line (``tmp`` is the current folder);
    ``base`` the kind of real run the hostile folder is a copy of; ``builds``: it builds objects from the folder's
    config, so a hostile config must be refused; ``weights``: the checkpoint file it loads (a pickle there must be
    refused, naming it)."""

    name: str
    args: Callable[[Path, Path], list[str]]
    base: str = "supervised"
    builds: bool = True
    weights: str | None = "best.pt"
    writes: bool = False  # given a sound folder it writes (into it, or a new run): only hostile folders it refuses


STUDENT = [*TINY, "model.hidden=[8]", "dataset.standardize=unit"]
GAN = [*TINY, "task=gan", "model=gan_mlp", "optimizer=gan_adam", "dataset.standardize=unit",
       "model.generator.hidden=[8]", "model.discriminator.hidden=[8]", "task.fd_samples=50", "task.every_n_epochs=0",
       "task.grid_samples=4"]

READERS = [
    Reader("eval", lambda run, tmp: ["eval", str(run)]),
    Reader("eval-last", lambda run, tmp: ["eval", str(run), "--checkpoint", "last"], weights="last.pt"),
    Reader("eval-epoch", lambda run, tmp: ["eval", str(run), "--checkpoint", "epoch-0001.pt"],
           weights="epoch-0001.pt"),
    Reader("eval-variant", lambda run, tmp: ["eval", str(run), "--checkpoint", "accelerated/original"],
           weights="model.pt"),
    Reader("predict", lambda run, tmp: ["predict", str(run), ",".join(["0.5"] * 64)]),
    Reader("summary", lambda run, tmp: ["summary", str(run)], weights=None),
    Reader("accelerate", lambda run, tmp: ["accelerate", str(run), "--methods", "int8_dynamic", "--repeats", "1"],
           writes=True),
    Reader("sample", lambda run, tmp: ["sample", str(run), "--n", "2", "--out", str(tmp / "samples.png")]),
    Reader("recommend", lambda run, tmp: ["recommend", str(run), "--user", "1"]),
    Reader("resume", lambda run, tmp: ["train", f"resume={run}", "trainer.max_epochs=2"], weights="last.pt",
           writes=True),
    Reader("resume-finished", lambda run, tmp: ["train", f"resume={run}"], weights="last.pt"),  # nothing to do
    Reader("teacher", lambda run, tmp: ["train", *STUDENT, "task=distill", f"task.teacher={run}"], writes=True),
    Reader("encoder", lambda run, tmp: ["train", *TINY, "model=pretrained", f"model.encoder={run}",
                                        "dataset=digits"], base="contrastive", writes=True),
    Reader("feature-net", lambda run, tmp: ["train", *GAN, f"task.feature_net={run}"], writes=True),
    Reader("verify", lambda run, tmp: ["verify", str(run)], weights=None, writes=True),  # trains into a temp folder
    # the doctor reads the config to rebuild the data; a refused config is listed as "not checked", exit 0
    Reader("doctor", lambda run, tmp: ["doctor", str(run)], builds=False, weights=None),
    Reader("compare", lambda run, tmp: ["compare", str(run)], builds=False, weights=None),
    Reader("diff", lambda run, tmp: ["diff", str(run), str(run)], builds=False, weights=None),
    Reader("sweep-plot", lambda run, tmp: ["sweep-plot", str(run), "--x", "seed", "--out", str(tmp / "p.png")],
           builds=False, weights=None),
]


# ---------------------------------------------------------------------------------------------- real runs
def _train(cwd: Path, *overrides: str) -> Path:
    r = run_cli(["train", *TINY, *overrides], cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = run_dirs(cwd)
    return run


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """One tiny real run of each kind the readers need; the supervised one with an accelerated variant."""
    supervised = _train(tmp_path_factory.mktemp("supervised"), *SUPERVISED)
    contrastive = _train(tmp_path_factory.mktemp("contrastive"), *CONTRASTIVE)
    # accelerated/original/ as nnml accelerate writes it: variant.json beside the float model's state dict
    variant = supervised / "accelerated" / "original"
    variant.mkdir(parents=True)
    state = torch.load(supervised / "checkpoints" / "best.pt", weights_only=True)["model"]
    torch.save(state, variant / "model.pt")
    (variant / "variant.json").write_text('{"method": "original"}\n')
    return {"supervised": supervised, "contrastive": contrastive}


# ---------------------------------------------------------------------------------------------- payloads
class Shell:
    """Unpickling this runs a shell command (``os.system``): what a hostile pickle does."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@dataclass
class Scene:
    """One test's hostile folder and the things its payloads point at."""

    run: Path
    tmp: Path
    marker: Path
    pickle_file: Path = field(init=False)
    hub_dir: Path = field(init=False)

    def __post_init__(self):
        self.pickle_file = self.tmp / "payload.pkl"
        self.pickle_file.write_bytes(pickle.dumps(Shell(f"touch {self.marker}")))
        self.hub_dir = self.tmp / "hub"
        self.hub_dir.mkdir()
        (self.hub_dir / "hubconf.py").write_text(f"open({str(self.marker)!r}, 'w').close()\ndef x():\n    pass\n")

    @property
    def config_file(self) -> Path:
        return self.run / ".hydra" / "config.yaml"

    def config(self) -> dict:
        return yaml.safe_load(self.config_file.read_text())

    def write_config(self, cfg: dict) -> None:
        self.config_file.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def payloads(self) -> dict[str, dict]:
        """Callables that load or run code, each called so that it would create the marker."""
        m = str(self.marker)
        return {
            "codecache": {"_target_": "torch._inductor.codecache.PyCodeCache.load",
                          "source_code": f"open({m!r}, 'w').close()\n"},
            "torch-load": {"_target_": "torch.load", "f": str(self.pickle_file), "weights_only": False},
            "hub": {"_target_": "torch.hub.load", "repo_or_dir": str(self.hub_dir), "model": "x", "source": "local",
                    "trust_repo": True},
            "load-inline": {"_target_": "torch.utils.cpp_extension.load_inline", "name": "x",
                            "cpp_sources": f'static int x = system("touch {m}");', "build_directory": m},
            "package": {"_target_": "torch.package.PackageImporter", "file_or_buffer": str(self.pickle_file)},
            "jit": {"_target_": "torch.jit.load", "f": str(self.pickle_file)},
            "system": {"_target_": "os.system", "_args_": [f"touch {m}"]},
            "open": {"_target_": "builtins.open", "_args_": [m, "w"]},
            "exec": {"_target_": "builtins.exec", "_args_": [f"open({m!r}, 'w').close()"]},
            "subprocess": {"_target_": "subprocess.run", "_args_": [["touch", m]]},
        }


def _slot(scene: Scene, slot: str, payload: str):
    """Put a payload into one slot of the config (the logger and scheduler slots are filled as their groups are)."""
    cfg = scene.config()
    node = scene.payloads()[payload]
    if slot == "logger":
        cfg["logger"] = {"tensorboard": node}
    else:
        cfg[slot] = node
    scene.write_config(cfg)


def _edit(scene: Scene, text: Callable[[Scene, str], str], file: str = "config.yaml"):
    path = scene.run / ".hydra" / file
    path.write_text(text(scene, path.read_text()))


def _merge(scene: Scene, **top):
    cfg = scene.config()
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    scene.write_config(cfg)


def _stored_allow(prefix: str, payload: str):
    def make(scene: Scene):
        cfg = scene.config()
        cfg["allowed_targets"] = [prefix]
        cfg["model"] = scene.payloads()[payload]
        scene.write_config(cfg)
    return make


def _bomb(levels: int = 6, width: int = 10) -> str:
    """A YAML alias bomb: a few hundred bytes that expand to width**levels values (over a million)."""
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _poison_checkpoints(scene: Scene):
    """A pickle that runs a command in every checkpoint slot: best.pt, last.pt, epoch-0001.pt, the variant's
    model.pt (each keeps its real content besides, so only the payload is wrong)."""
    files = [*scene.run.glob("checkpoints/*.pt"), *scene.run.glob("accelerated/*/model.pt")]
    for path in files:
        good = torch.load(path, weights_only=True)
        good = good if isinstance(good, dict) else {"state": good}
        torch.save({**good, "extra": Shell(f"touch {scene.marker}")}, path)


@dataclass(frozen=True)
class Hostile:
    """One way to make a folder hostile: ``make(scene)`` changes the copy; the readers for which ``refused_by`` is
    true must refuse it in one line holding every needle ("WEIGHTS": the reader's checkpoint file); the others may
    answer as usual. Nobody runs the payload or writes into the folder."""

    id: str
    make: Callable[[Scene], None]
    needles: tuple[str, ...] = ()
    refused_by: Callable[[Reader], bool] = lambda r: r.builds


def _loads_weights(r: Reader) -> bool:
    return r.weights is not None


def _loads_the_variant(r: Reader) -> bool:
    return r.weights == "model.pt"


def _nobody(r: Reader) -> bool:
    return False


def _variant(meta: str | None = None, model_pt=None, model_onnx: bytes | None = None):
    def make(scene: Scene):
        folder = scene.run / "accelerated" / "original"
        if meta is not None:
            (folder / "variant.json").write_text(meta)
        if model_pt is not None:
            torch.save(model_pt, folder / "model.pt")
        if model_onnx is not None:
            (folder / "model.onnx").write_bytes(model_onnx)
    return make


TAG = "evil: !!python/object/apply:os.system ['touch {marker}']\n"

HOSTILE = [
    # a callable that loads or runs code, in each slot of the config
    Hostile("model-codecache", lambda s: _slot(s, "model", "codecache"),
            ("model._target_=torch._inductor.codecache.PyCodeCache.load is not allowed",)),
    Hostile("loss-torch-load", lambda s: _slot(s, "loss", "torch-load"), ("loss._target_=torch.load is not allowed",)),
    Hostile("optimizer-hub", lambda s: _slot(s, "optimizer", "hub"),
            ("optimizer._target_=torch.hub.load is not allowed",)),
    Hostile("scheduler-load-inline", lambda s: _slot(s, "scheduler", "load-inline"),
            ("scheduler._target_=torch.utils.cpp_extension.load_inline is not allowed",)),
    Hostile("dataset-package", lambda s: _slot(s, "dataset", "package"),
            ("dataset._target_=torch.package.PackageImporter is not allowed",)),
    Hostile("task-jit", lambda s: _slot(s, "task", "jit"), ("task._target_=torch.jit.load is not allowed",)),
    Hostile("logger-system", lambda s: _slot(s, "logger", "system"),
            ("logger.tensorboard._target_=os.system is not allowed",)),
    # the folder's own allowed_targets is not trusted, whatever it lists
    Hostile("stored-allow-builtins", _stored_allow("builtins.", "open"),
            ("model._target_=builtins.open is not allowed",)),
    Hostile("stored-allow-os", _stored_allow("os.", "system"), ("model._target_=os.system is not allowed",)),
    Hostile("stored-allow-empty", _stored_allow("", "exec"), ("model._target_=builtins.exec is not allowed",)),
    Hostile("stored-allow-subprocess", _stored_allow("subprocess.", "subprocess"),
            ("model._target_=subprocess.run is not allowed",)),
    # resolvers and interpolations
    Hostile("oc-create", lambda s: _merge(s, model=f"${{oc.create:{{_target_: os.system, _args_: ['touch "
                                                    f"{s.marker}']}}}}"), ("calls a resolver",)),
    Hostile("oc-env", lambda s: _merge(s, model={"hidden": "${oc.env:HOME}"}),
            ("model.hidden=${oc.env:HOME} calls a resolver",)),
    Hostile("oc-decode", lambda s: _merge(s, model=f"${{oc.decode:'{{_target_: os.system, _args_: [touch "
                                                    f"{s.marker}]}}'}}"), ("calls a resolver",)),
    Hostile("nnml-fresh-dir", lambda s: _merge(s, model={"init": f"${{nnml_fresh_dir:{s.marker}}}"}),
            ("calls a resolver",)),
    Hostile("escaped-interpolation", lambda s: _merge(s, payload="os.system", model={
        "_target_": "\\${payload}", "_args_": [f"touch {s.marker}"]}), ("holds an escaped interpolation",)),
    Hostile("assembled-target", lambda s: _merge(s, a="os", b="system", model={
        "_target_": "${a}.${b}", "_args_": [f"touch {s.marker}"]}), ("model._target_=os.system is not allowed",)),
    Hostile("interpolated-key", lambda s: _merge(s, k="_target_", model={"${k}": "os.system"}),
            ("holds an interpolation",)),
    Hostile("interpolation-loop", lambda s: _merge(s, a="${b}", b="${a}"), ("config.yaml",)),
    # targets deep down: nested mappings, lists of mappings, _args_
    Hostile("nested-depth-4", lambda s: _merge(s, model={"init": {"deep": {"deeper": s.payloads()["system"]}}}),
            ("model.init.deep.deeper._target_=os.system is not allowed",)),
    Hostile("list-of-dicts", lambda s: _merge(s, task={"augment": [{"_target_": "nnml.augment.signal.GaussianNoise"},
                                                                   {"x": [s.payloads()["exec"]]}]}),
            ("task.augment[1].x[0]._target_=builtins.exec is not allowed",)),
    Hostile("args-list", lambda s: _merge(s, model={"_target_": "torch.nn.Sequential", "_args_": [
        {"_target_": "torch.nn.Linear", "in_features": 64, "out_features": 10}, s.payloads()["open"]]}),
        ("model._args_[1]._target_=builtins.open is not allowed",)),
    # nnml's own parts out of their slot: a logger built as the model would write into any folder it is given
    Hostile("logger-as-model", lambda s: _merge(s, model=None) or _merge(s, model={
        "_target_": "nnml.tracking.tensorboard.TensorBoardLogger", "run_dir": str(s.marker)}),
            ("model._target_=nnml.tracking.tensorboard.TensorBoardLogger is not allowed there",
             "only under logger")),
    Hostile("logger-as-model-args", lambda s: _merge(s, model=None) or _merge(s, model={
        "_target_": "nnml.tracking.runfiles.CSVLogger", "_args_": [str(s.marker)]}),
            ("model._target_=nnml.tracking.runfiles.CSVLogger is not allowed there",)),
    Hostile("dataset-in-task", lambda s: _merge(s, task={"extra": {"_target_": "nnml.data.idx.mnist",
                                                                   "root": str(s.marker)}}),
            ("task.extra._target_=nnml.data.idx.mnist is not allowed there", "only under dataset")),
    # a folder that names itself as its own pretrained encoder: reading it would never end
    Hostile("encoder-cycle", lambda s: _merge(s, model=None) or _merge(s, model={
        "_target_": "nnml.tasks.representation.encoder.PretrainedClassifier", "_recursive_": False,
        "encoder": str(s.run), "num_outputs": 10, "input_shape": [1, 8, 8]}), ("model.encoder",)),
    # what YAML can do by itself, in the config
    Hostile("python-tag", lambda s: _edit(s, lambda s, t: t + TAG.format(marker=s.marker)),
            ("a tag nnml does not load",)),
    Hostile("invalid-yaml", lambda s: _edit(s, lambda s, t: t + "model: [unclosed\n"), ("invalid YAML",)),
    Hostile("alias-bomb", lambda s: _edit(s, lambda s, t: t + _bomb()), ("too large or too deeply nested",)),
    Hostile("not-a-mapping", lambda s: _edit(s, lambda s, t: "- just\n- a list\n"), ("not a config",)),
    Hostile("not-utf8", lambda s: s.config_file.write_bytes(b"\xff\xfe" + s.config_file.read_bytes()),
            ("not a text file",)),
    # ... and in hydra.yaml and overrides.yaml: what the run was started with, read for messages and group choices,
    # never built: a hostile one is ignored (or refused in one line)
    *[Hostile(f"{file.split('.')[0]}-{kind}", lambda s, file=file, text=text: _edit(s, text, file), (), _nobody)
      for file in ("hydra.yaml", "overrides.yaml")
      for kind, text in (("python-tag", lambda s, t: t + TAG.format(marker=s.marker)),
                         ("invalid-yaml", lambda s, t: t + "\n  - [unclosed\n"),
                         ("alias-bomb", lambda s, t: _bomb()))],
    # overrides.yaml's group choices are composed again by a resume: only nnml's own options get through
    Hostile("overrides-resolver-sweep", lambda s: (s.run / ".hydra" / "overrides.yaml").write_text(
        f"- dataset=digits,${{nnml_fresh_dir:{s.marker}}}\n- model=${{oc.create:{{_target_: os.system}}}}\n"),
            (), _nobody),
    Hostile("overrides-append", lambda s: (s.run / ".hydra" / "overrides.yaml").write_text("- +model=mlp\n"),
            (), _nobody),
    # results of any shape: tables and notes read them as data
    Hostile("metrics-garbage", lambda s: (s.run / "metrics.json").write_text(
        '{"epochs": "[", "best_epoch": {}, "monitor": ["val/loss"], "val/loss": "x", "segments": 3, "test/acc": []}'),
            (), _nobody),
    # pickles in every checkpoint slot
    Hostile("pickled-checkpoints", _poison_checkpoints, ("WEIGHTS", "holds objects other than tensors"),
            _loads_weights),
    # an accelerated variant's files
    Hostile("variant-json-invalid", _variant(meta="{not json"), ("variant.json cannot be read",), _loads_the_variant),
    Hostile("variant-json-list", _variant(meta="[1, 2]"), ("names method=None",), _loads_the_variant),
    Hostile("variant-method-foreign", _variant(meta='{"method": "os.system"}'), ("names method=os.system",),
            _loads_the_variant),
    Hostile("variant-not-a-state-dict", _variant(model_pt=[1, 2, 3]), ("model.pt",), _loads_the_variant),
    Hostile("variant-onnx-garbage", _variant(meta='{"method": "onnx"}', model_onnx=b"\x08\x07garbage" * 100),
            ("model.onnx cannot be loaded by ONNX Runtime",), _loads_the_variant),
]


def _cases():
    """Every hostile folder against every reader, except a writing reader given a folder it may accept (it would
    train or write as asked: not this test's business)."""
    for h in HOSTILE:
        for r in READERS:
            if h.refused_by(r) or not r.writes:
                yield pytest.param(h, r, id=f"{h.id}-{r.name}")


# ---------------------------------------------------------------------------------------------- the checks
def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (hidden ones too) -> its content's hash ("dir" for a folder)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = "dir" if p.is_dir() and not p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out




def one_line_refusal(result, *needles: str) -> str:
    """Exit 2 and exactly one line on stderr, ``error: ...`` with every needle, and no traceback anywhere."""
    err = result.stderr
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        "".join(__import__("traceback").format_exception(result.exception))
    assert "Traceback" not in err + result.stdout, err
    assert result.exit_code == 2, (result.exit_code, err, result.stdout[-2000:])
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def no_damage(scene: Scene, before: dict, result) -> None:
    assert not scene.marker.exists(), "the payload ran"
    assert snapshot(scene.run) == before, "the hostile folder changed"
    assert not (scene.tmp / "outputs").exists() and not (scene.tmp / "new").exists(), "a refusal made a run folder"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def _scene(bases, tmp_path, base: str) -> Scene:
    run = tmp_path / "theirs" / "run"
    shutil.copytree(bases[base], run)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Scene(run, cwd, tmp_path / "pwned")


# ---------------------------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("hostile, reader", list(_cases()))
def test_a_hostile_folder_runs_nothing_and_is_not_touched(bases, tmp_path, hostile, reader):
    scene = _scene(bases, tmp_path, reader.base)
    hostile.make(scene)
    before = snapshot(scene.run)
    result = invoke(reader.args(scene.run, scene.tmp), scene.tmp)
    no_damage(scene, before, result)
    if hostile.refused_by(reader):
        one_line_refusal(result, *[reader.weights if n == "WEIGHTS" else n for n in hostile.needles])
    elif result.exit_code:
        one_line_refusal(result)


@pytest.mark.parametrize("slot", ["model", "loss", "optimizer", "scheduler", "dataset", "task", "logger"])
def test_every_code_loading_callable_is_refused_in_every_slot(bases, tmp_path, slot):
    """The full cross product, at the one gate (RunFolder.load_config), without a command around it."""
    from nnml.config.runfolder import RunFolder
    from nnml.errors import NnmlError

    scene = _scene(bases, tmp_path, "supervised")
    for payload, node in scene.payloads().items():
        _slot(scene, slot, payload)
        with pytest.raises(NnmlError, match=f"_target_={node['_target_']} is not allowed"):
            RunFolder(scene.run).load_config()
        # named on this command line, the same module prefix is the user's choice
        prefix = node["_target_"].split(".", 1)[0] + "."
        RunFolder(scene.run).load_config(allow=[prefix])
    assert not scene.marker.exists()


def test_a_clean_copy_is_accepted(bases, tmp_path):
    """The control: an unchanged copy is accepted (the refusals above are the payloads', not the copy's)."""
    from nnml.config.runfolder import RunFolder

    for base in bases:
        (tmp_path / base).mkdir()
        scene = _scene(bases, tmp_path / base, base)
        cfg, trust = RunFolder(scene.run).load_config()
        assert cfg.model._target_
    (tmp_path / "eval").mkdir()
    scene = _scene(bases, tmp_path / "eval", "supervised")
    before = snapshot(scene.run)
    result = invoke(["eval", str(scene.run), "--json"], scene.tmp)
    assert result.exit_code == 0, result.stderr
    assert snapshot(scene.run) == before


# ---------------------------------------------------------------------------------------------- integrity
def test_a_refused_resume_writes_nothing_and_makes_no_folder(bases, tmp_path):
    scene = _scene(bases, tmp_path, "supervised")
    _slot(scene, "model", "system")
    (scene.run / "checkpoints" / ".last.pt.abc123.tmp").write_bytes(b"torn")  # only a resume that starts removes it
    before = snapshot(scene.run)
    for extra in ([], [f"hydra.run.dir={scene.tmp / 'new'}"]):
        result = invoke(["train", f"resume={scene.run}", "trainer.max_epochs=3", *extra], scene.tmp)
        one_line_refusal(result, "model._target_=os.system is not allowed")
        no_damage(scene, before, result)


def test_no_refusal_creates_a_run_folder_even_with_a_named_one(bases, tmp_path):
    teacher = _scene(bases, tmp_path, "supervised")
    _slot(teacher, "model", "system")
    new = teacher.tmp / "a" / "b" / "new"
    for args in (["optimizer=adamm"], ["trainer.max_epochs=0"], ["task=distill", f"task.teacher={teacher.run}"]):
        result = invoke(["train", *STUDENT, *args, f"hydra.run.dir={new}"], teacher.tmp)
        one_line_refusal(result)
        assert not (teacher.tmp / "a").exists() and not (teacher.tmp / "outputs").exists(), args


def test_a_run_into_a_locked_folder_is_refused(tmp_path):
    from nnml.files import FolderLock

    folder = tmp_path / "busy"
    folder.mkdir()
    lock = FolderLock(folder / ".nnml.lock").acquire()
    try:
        before = snapshot(folder)
        r = run_cli(["train", *TINY, f"hydra.run.dir={folder}"], tmp_path)
        assert r.returncode == 2, r.stderr
        line = r.stderr.strip()
        assert "\n" not in line and "is being written by another nnml process" in line and f"pid {os.getpid()}" in line
        assert snapshot(folder) == before
    finally:
        lock.release()


def test_a_finished_run_is_not_a_new_runs_folder(bases, tmp_path):
    scene = _scene(bases, tmp_path, "supervised")
    before = snapshot(scene.run)
    result = invoke(["train", *TINY, *SUPERVISED, f"hydra.run.dir={scene.run}"], scene.tmp)
    one_line_refusal(result, "holds a finished run, which a new run would overwrite", f"resume={scene.run}")
    assert snapshot(scene.run) == before


def test_temp_files_of_a_killed_write_are_removed_by_the_next_resume(bases, tmp_path):
    scene = _scene(bases, tmp_path, "supervised")
    torn = [scene.run / "checkpoints" / ".last.pt.k1ll3d.tmp", scene.run / ".metrics.json.x9.tmp",
            scene.run / ".hydra" / ".config.yaml.q7.tmp"]
    for p in torn:
        p.write_bytes(b"half a file")
    result = invoke(["train", f"resume={scene.run}", "trainer.max_epochs=2"], scene.tmp)
    assert result.exit_code == 0, result.stderr
    assert not [p for p in torn if p.exists()]
    assert torch.load(scene.run / "checkpoints" / "last.pt", weights_only=True)["loop"]["epoch"] == 2


SLOW_DATA = '''
"""A dataset that takes its time to build (a slow download, say), and says when it started."""
import time
from pathlib import Path

from nnml.data.sklearn_sets import digits


def slow_digits(seed=0, **kw):
    Path("building").write_text("started")
    time.sleep(60)
    return digits(seed=seed, **kw)
'''


@pytest.mark.parametrize("named", [False, True], ids=["default-folder", "named-folder"])
def test_sigterm_during_start_up_exits_143_in_one_line(tmp_path, named):
    (tmp_path / "slow_data.py").write_text(SLOW_DATA)
    args = [sys.executable, "-m", "nnml", "train", *TINY, "dataset._target_=slow_data.slow_digits",
            "allowed_targets=[slow_data.]", *([f"hydra.run.dir={tmp_path / 'mine'}"] if named else [])]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + 120  # only against a hang
    while not (tmp_path / "building").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the dataset never started building"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "SIGTERM" in lines[0], err
    left = [*run_dirs(tmp_path), *([tmp_path / "mine"] if (tmp_path / "mine").exists() else [])]
    for run in left:  # a folder may stay only to say why it holds no training
        assert "stopped by SIGTERM before" in (run / "error.txt").read_text()
        assert not (run / "checkpoints").exists() and not (run / "metrics.json").exists()
