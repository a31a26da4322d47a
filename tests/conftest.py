"""Shared test helpers: compose the real config with tiny overrides, run the real CLI in-process or as a
subprocess, and keep every run's outputs inside a temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Subprocesses (python -m nnml) must import this checkout, installed or not.
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
os.environ.setdefault("MPLBACKEND", "Agg")
# Two test workers share two cores, and many tests compare the numbers of two runs: one torch thread everywhere, so
# no run depends on what trainer.num_threads=auto measures of the other worker (tests of auto unset this).
os.environ["OMP_NUM_THREADS"] = "1"

TINY = ["trainer.max_epochs=2", "trainer.device=cpu", "trainer.num_threads=1"]

# Size keys a dataset config may have, set small so that building any shipped dataset takes a fraction of a second
TINY_DATA_KEYS = {"n_samples": 64, "n_images": 24, "num_samples": 300, "num_users": 30, "num_items": 20,
                  "interactions_per_user": 6, "n_train": 40, "n_val": 12, "n_test": 12}
# ... and the datasets whose size other keys set
TINY_DATA_EXTRA = {"langid": ["dataset.languages=[ru,uk]"], "numbers": ["dataset.split=random",
                                                                        "dataset.max_number=300"]}


def tiny_data(dataset: str) -> list[str]:
    """Overrides that make shipped ``dataset=NAME`` tiny (read from its config's keys)."""
    from omegaconf import OmegaConf

    from nnml.config.catalog import option_files

    node = OmegaConf.load(option_files("dataset")[dataset])
    return [f"dataset.{k}={v}" for k, v in TINY_DATA_KEYS.items() if k in node] + TINY_DATA_EXTRA.get(dataset, [])


def compose(overrides=(), config_name: str = "train"):
    """The real train config composed with the compose API (no run folder), for build-level tests."""
    from nnml.config.compose import compose_train

    return compose_train(overrides, config_name=config_name)


def train_config(cfg, run_dir, **kwargs):
    """``nnml.run.train.train`` on a config this test composed itself (its own targets trusted)."""
    from nnml.config.targets import Trust
    from nnml.run.train import RunContext, train

    return train(cfg, RunContext(run_dir=Path(run_dir), trust=Trust.own(cfg)), **kwargs)


def run_cli(args, cwd: Path, env=None, timeout: float = 300, input_text=None) -> subprocess.CompletedProcess:
    """``python -m nnml ARGS`` in ``cwd`` (so outputs/ lands there), capturing stdout and stderr."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "nnml", *args], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=timeout, input=input_text)


def cli(args, cwd: Path, env=None, timeout: float = 300, input_text=None) -> subprocess.CompletedProcess:
    """:func:`run_cli`'s answer from this process (:func:`invoke`): no interpreter start-up, which is ~3.5 s of CPU
    a call (torch, its compiler stack, SciPy). For commands that need no process of their own: no signals or kills,
    no lock held by another process, no environment variables, nothing that must be imported fresh (a hostile
    module's import is the subprocess tests' business). An exception other than the CLI's exit is raised."""
    assert env is None and input_text is None, "cli() runs in this process: use run_cli for env or stdin"
    r = invoke(args, cwd)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return subprocess.CompletedProcess([str(a) for a in args], r.exit_code, r.stdout, r.stderr)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs with one torch thread, put back afterwards: two test workers share two cores, and many tests
    compare the numbers of two runs, which must not depend on how busy the other worker is. A test of the thread
    choice itself (trainer.num_threads=auto) sets what it needs inside this."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def invoke(args, cwd: Path | None = None):
    """``nnml ARGS`` in this process through Typer's CliRunner (no interpreter start-up), in ``cwd`` when given
    (so outputs/ lands there); returns the CliRunner result (exit_code, stdout, stderr, output, exception)."""
    from typer.testing import CliRunner

    from nnml.cli import app

    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(app, [str(a) for a in args])
    finally:
        os.chdir(old)


def run_dirs(root: Path, task: str = "train") -> list[Path]:
    return sorted(p for p in (root / "outputs" / task / "runs").glob("*") if p.is_dir())


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temp folder as the current directory, so runs write to tmp/outputs."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def train_in_process(workdir):
    """``nnml train`` in this process (:func:`invoke`); returns (result, run_dir or None)."""
    def call(*overrides, tiny: bool = True):
        before = set(run_dirs(workdir))
        result = invoke(["train", *(TINY if tiny else []), *overrides])
        new = sorted(set(run_dirs(workdir)) - before)
        return result, (new[-1] if new else None)

    return call


def write_idx(path: Path, array) -> None:
    """Write ``array`` (uint8) as an IDX file, gzipped when the name ends in .gz (the format MNIST ships in)."""
    import gzip
    import struct

    import numpy as np

    a = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + a.tobytes())


def make_fake_mnist(root: Path, name: str = "mnist", n_train: int = 200, n_test: int = 50, seed: int = 0) -> Path:
    """A tiny MNIST-format dataset: each class is a bright block at its own place, so a model can learn it.
    Returns the folder; the MD5 table in nnml.data.idx is patched by the caller (real checksums are for real files)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)

    def images(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 40, (n, 28, 28))
        for i, c in enumerate(y):
            r, col = divmod(int(c), 5)
            x[i, 4 + r * 10 : 12 + r * 10, 1 + col * 5 : 6 + col * 5] = 250
        return x, y

    xtr, ytr = images(n_train)
    xte, yte = images(n_test)
    from nnml.data.idx import FILES

    for fname, arr in zip(FILES, (xtr, ytr, xte, yte)):
        write_idx(folder / fname, arr)
    return folder


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Tiny IDX files for mnist and fashion_mnist under tmp/data, with their MD5s registered as the expected ones."""
    from nnml.data import idx

    root = tmp_path / "data"
    for name in ("mnist", "fashion_mnist"):
        folder = make_fake_mnist(root, name)
        sums = {f: idx.md5(folder / f) for f in idx.FILES}
        monkeypatch.setitem(idx.SOURCES[name], "md5", sums)
    return root


def assert_records_reproduce_metrics(run_dir: Path, splits=("val", "test"), rel: float = 1e-5) -> dict:
    """The run's ``predictions/<split>.npz`` recompute the metrics its metrics.json reports (every metric the
    records give), hold one row per evaluated sample in split order, and every recorded metric has its interval.
    Returns ``{split: (records, spec)}``."""
    import numpy as np
    import pytest

    from nnml.run import records as R

    metrics = read_metrics(run_dir)
    out = {}
    for split in splits:
        records, spec = R.load(run_dir, split)
        again = R.metrics(spec, records)
        assert again, split
        for name, value in again.items():
            want = metrics.get(f"{split}/{name}")
            if want is None and not np.isfinite(value):
                continue  # NaN in the records is null in metrics.json
            assert want == pytest.approx(value, rel=rel, abs=1e-7), (split, name, want, value)
            if np.isfinite(value):
                assert f"{split}/{name}" in metrics["intervals"], (split, name)
        if "index" in records:
            assert np.array_equal(records["index"], np.sort(records["index"])), split
            assert len(np.unique(records["index"])) == len(records["index"]), split
        out[split] = (records, spec)
    return out
