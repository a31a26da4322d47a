"""The package ships whole: every subpackage is listed in pyproject.toml, and a non-editable wheel installed
elsewhere carries the configs and runs."""

import subprocess
import sys

import tomllib

from tests.conftest import ROOT


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "nnml").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert "nnml.configs" in listed and (ROOT / "configs" / "__init__.py").is_file()


def test_wheel_installed_elsewhere_has_configs_and_runs(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "whl"), str(ROOT)], check=True, cwd=tmp_path, capture_output=True)
    wheel = next((tmp_path / "whl").glob("nnml-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, capture_output=True)
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "nnml", "train", "--cfg", "job", "dataset=iris", "optimizer=sgd"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "nnml.data.sklearn_sets.iris" in out.stdout and "torch.optim.SGD" in out.stdout
    where = subprocess.run([sys.executable, "-c", "import nnml.config as c; print(c.config_dir())"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.strip().startswith(str(tmp_path / "site"))
