"""provenance.json: the record of where a run came from. The git facts are checked against git itself (rev-parse,
diff) run on the same folders, the hashes against hashlib on the files, the versions against the packages'
own metadata."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnml.run import provenance as P

ROOT = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


def git(folder: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def no_outer_repo(tmp_path, monkeypatch):
    """git looks no higher than tmp_path: a folder made here is outside any repository, whatever holds /tmp."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return tmp_path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_user_module_in_git_clean_then_dirty(no_outer_repo):
    repo = no_outer_repo / "homework"
    repo.mkdir()
    (repo / "prov_git_models.py").write_text("WIDTH = 32\n")
    git(repo, "init", "-q")
    git(repo, "add", "prov_git_models.py")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD").strip()
    config = {"model": {"_target_": "prov_git_models.Net", "width": 32}, "optimizer": {"_target_": "torch.optim.SGD"}}

    clean = P.collect(argv=["nnml", "train"], cwd=repo, config=config)
    code = clean["user_code"]
    assert list(code) == ["prov_git_models"]  # the config's one target outside torch. and nnml.
    state = code["prov_git_models"]["git"]
    assert state["commit"] == head and state["dirty"] is False and state["diff"] == ""
    assert Path(state["root"]).resolve() == repo.resolve()

    (repo / "prov_git_models.py").write_text("WIDTH = 64\n")
    (repo / "helper.py").write_text("X = 1\n")  # untracked: dirty, though git diff does not show it
    dirty = P.collect(argv=["nnml", "train"], cwd=repo, config=config)["user_code"]["prov_git_models"]
    assert dirty["git"]["commit"] == head and dirty["git"]["dirty"] is True
    expected = git(repo, "diff", "HEAD")
    assert dirty["git"]["diff"] == expected and "+WIDTH = 64" in expected
    assert dirty["git"]["diff_sha256"] == hashlib.sha256(expected.encode()).hexdigest()
    assert sorted(dirty["git"]["changed"]) == sorted(["?? helper.py", " M prov_git_models.py"])
    assert dirty["files"] == {"prov_git_models.py": sha(repo / "prov_git_models.py")}
    assert dirty["sha256"] != code["prov_git_models"]["sha256"]


def test_a_long_diff_is_cut_with_a_note(no_outer_repo, monkeypatch):
    repo = no_outer_repo / "big"
    repo.mkdir()
    (repo / "prov_big_models.py").write_text("A = 1\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "prov_big_models.py").write_text("".join(f"A{i} = {i}\n" for i in range(200)))
    monkeypatch.setattr(P, "MAX_DIFF_BYTES", 300)
    state = P.user_code("prov_big_models", repo)["git"]
    whole = git(repo, "diff", "HEAD").encode()
    assert len(whole) > 300
    assert state["diff"] == whole[:300].decode() and state["diff_bytes"] == len(whole)
    assert state["diff_sha256"] == hashlib.sha256(whole).hexdigest()
    assert state["diff_note"] == f"cut at 300 of {len(whole)} bytes; diff_sha256 is of the whole diff"


def test_user_code_outside_git_is_hashed_with_the_helpers_it_imports(no_outer_repo, monkeypatch):
    folder = no_outer_repo / "plain"
    folder.mkdir()
    (folder / "prov_plain_helper.py").write_text("SCALE = 2\n")
    (folder / "prov_plain_models.py").write_text("import prov_plain_helper\nWIDTH = 8 * prov_plain_helper.SCALE\n")
    (folder / "prov_unused.py").write_text("NOT_IMPORTED = True\n")
    monkeypatch.syspath_prepend(str(folder))
    for name in ("prov_plain_models", "prov_plain_helper"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.import_module("prov_plain_models")
    try:
        record = P.user_code("prov_plain_models", folder)
    finally:
        for name in ("prov_plain_models", "prov_plain_helper"):
            sys.modules.pop(name, None)
    assert record["git"] is None
    assert record["files"] == {"prov_plain_helper.py": sha(folder / "prov_plain_helper.py"),
                               "prov_plain_models.py": sha(folder / "prov_plain_models.py")}
    assert record["sha256"] == hashlib.sha256(json.dumps(record["files"], sort_keys=True).encode()).hexdigest()


def test_a_package_not_yet_imported_is_found_in_cwd_and_hashed(no_outer_repo):
    pkg = no_outer_repo / "work" / "prov_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "layers.py").write_text("K = 3\n")
    assert "prov_pkg" not in sys.modules
    record = P.user_code("prov_pkg", pkg.parent)
    assert "prov_pkg" not in sys.modules  # found, not imported
    assert record["path"] == str(pkg.resolve()) and record["git"] is None
    assert record["files"] == {"__init__.py": sha(pkg / "__init__.py"), "sub/layers.py": sha(pkg / "sub" / "layers.py")}


def test_a_module_that_is_nowhere_is_noted_not_an_error(no_outer_repo):
    assert P.user_code("prov_no_such_module", no_outer_repo) == {"path": None,
                                                                 "note": "module prov_no_such_module not found"}


def test_nnml_checkout_state_matches_git():
    import nnml.version

    record = P.nnml_source()
    assert record["version"] == nnml.version.__version__
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("this nnml is not a git checkout (an installed copy): nothing to compare")
    assert record["git"]["commit"] == head
    assert record["git"]["dirty"] is bool(status.strip())
    assert Path(record["git"]["root"]).resolve() == ROOT.resolve()


def test_nnml_inside_a_foreign_repository_or_none_has_no_git(no_outer_repo, monkeypatch):
    """An installed nnml in a virtual environment inside the user's project is not that project's commit."""
    import nnml.version

    project = no_outer_repo / "project"
    fake = project / ".venv" / "site-packages" / "nnml"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "version.py").write_text("")
    (project / ".gitignore").write_text(".venv/\n")
    git(project, "init", "-q")
    git(project, "add", ".gitignore")
    git(project, "commit", "-q", "-m", "first")
    monkeypatch.setattr(nnml.version, "__file__", str(fake / "version.py"))
    assert P.nnml_source()["git"] is None
    mine = project / ".venv" / "site-packages" / "prov_ignored_pkg"  # the same for the user's modules
    mine.mkdir()
    (mine / "__init__.py").write_text("K = 1\n")
    record = P.user_code("prov_ignored_pkg", mine.parent)
    assert record["git"] is None and record["files"] == {"__init__.py": sha(mine / "__init__.py")}
    plain = no_outer_repo / "plain" / "nnml"
    plain.mkdir(parents=True)
    monkeypatch.setattr(nnml, "__file__", str(plain / "__init__.py"))
    assert P.nnml_source()["git"] is None


def test_no_git_or_a_hanging_git_gives_null_not_an_error(no_outer_repo, monkeypatch):
    bin_dir = no_outer_repo / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # no git at all
    assert P.nnml_source()["git"] is None
    hang = bin_dir / "git"
    hang.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    hang.chmod(0o755)
    monkeypatch.setattr(P, "GIT_TIMEOUT_S", 0.5)
    assert P.nnml_source()["git"] is None
    assert P.git_state(no_outer_repo, with_diff=True) is None


def test_record_versions_machine_and_what_the_run_passes(no_outer_repo):
    import socket
    from importlib.metadata import version

    import numpy
    import torch

    config = {"dataset": {"_target_": "sklearn.datasets.load_digits"},
              "model": {"_target_": "nnml.models.mlp.MLP", "act": {"_target_": "torch.nn.ReLU"}}}
    record = P.collect(argv=["nnml", "train", "optimizer=adam"], cwd=no_outer_repo, config=config, threads=3,
                       seeds={"seed": 7, "data": [1, 2]}, device="cpu")
    assert json.loads(json.dumps(record)) == record  # plain JSON data
    assert record["argv"] == ["nnml", "train", "optimizer=adam"] and record["cwd"] == str(no_outer_repo.resolve())
    assert record["threads"] == 3 and record["seeds"] == {"seed": 7, "data": [1, 2]} and record["device"] == "cpu"
    assert record["user_code"] == {"sklearn": record["user_code"]["sklearn"]}  # not torch., not nnml.
    v = record["versions"]
    assert v["torch"] == torch.__version__ and v["numpy"] == numpy.__version__ and v["cuda"] == torch.version.cuda
    assert v["cudnn"] == (torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
    assert v["packages"] == {"scikit-learn": version("scikit-learn"), "torch": version("torch")}
    m = record["machine"]
    assert m["host"] == socket.gethostname() and m["cpu_count"] == os.cpu_count()
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    assert m["gpus"] == gpus
    if Path("/proc/cpuinfo").is_file() and "model name" in Path("/proc/cpuinfo").read_text():
        assert m["cpu"] and m["cpu"] in Path("/proc/cpuinfo").read_text()
    # sklearn comes from an installed distribution, not a checkout: named by its version, not hashed
    assert record["user_code"]["sklearn"]["distribution"] == {"scikit-learn": version("scikit-learn")}


def test_write_is_atomic_json(tmp_path):
    record = P.collect(argv=["nnml"], cwd=tmp_path, config=None, user_modules=[])
    path = P.write(tmp_path / "run", record)
    assert path == tmp_path / "run" / "provenance.json"
    assert json.loads(path.read_text()) == record
    assert [p.name for p in path.parent.iterdir()] == ["provenance.json"]  # no temp file left
