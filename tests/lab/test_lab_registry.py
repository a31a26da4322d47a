"""The lab registry and its configs: every lab is importable, its YAML matches its DEFAULTS, and the package is light."""

import pathlib
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from nnml.cli.labs import LABS, load_lab, run_lab
from nnml.errors import NnmlError

CONFIGS = pathlib.Path(__file__).parents[2] / "configs"


@pytest.mark.parametrize("name", sorted(LABS))
def test_config_matches_the_lab_defaults(name):
    path = CONFIGS / "lab" / f"{name}.yaml"
    package, first, second = path.read_text().splitlines()[:3]
    # Global package: the lab's keys sit at the top of its own primary config (nnml lab NAME key=value).
    assert package == "# @package _global_"
    assert first.startswith("# ") and second.startswith(f"# nnml lab {name}")
    run = load_lab(name)
    module = sys.modules[run.__module__]
    assert OmegaConf.to_container(OmegaConf.load(path)) == module.DEFAULTS
    assert callable(run)


def test_unknown_lab_is_refused(tmp_path):
    with pytest.raises(NnmlError, match="lab=trajectory .*did you mean 'trajectories'"):
        run_lab("trajectory", {}, tmp_path)


def test_dictconfig_is_accepted(tmp_path):
    cfg = OmegaConf.create({"names": ["relu", "tanh"]})
    numbers, _ = run_lab("activations", cfg, tmp_path / "nested" / "out")
    assert numbers["count"] == 2


def test_importing_the_registry_does_not_import_torch():
    code = "import sys, nnml.cli.labs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=pathlib.Path(__file__).parents[2])
    assert out.stdout.strip() == "False"


def test_model_config_targets_scratch_mlp():
    from hydra.utils import instantiate

    cfg = OmegaConf.load(CONFIGS / "model" / "scratch_mlp.yaml")
    model = instantiate(cfg, input_shape=(8, 8), num_outputs=10)
    assert type(model).__name__ == "ScratchMLP"
    assert sum(p.numel() for p in model.parameters()) == 64 * 128 + 128 + 128 * 10 + 10
