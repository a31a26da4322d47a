"""``nnml lab`` through the real CLI: the documented commands run, help lists the labs, bad keys and values are one line."""

import json
import pathlib
import re

import pytest
from omegaconf import OmegaConf

from nnml.cli.labs import LABS, check_override_keys, lab_summary
from nnml.errors import NnmlError
from nnml.lab.trajectories import _contour_figure
from tests.conftest import cli

CONFIGS = pathlib.Path(__file__).parents[2] / "configs"
GROUPS = {p.name for p in CONFIGS.iterdir() if p.is_dir() and not p.name.startswith("_")}


@pytest.mark.parametrize("name", sorted(LABS))
def test_no_lab_key_is_a_config_group_name(name):
    # Hydra reads `key=value` as a group override whenever a folder configs/<key>/ exists
    keys = set(OmegaConf.load(CONFIGS / "lab" / f"{name}.yaml").keys())
    assert "loss" in GROUPS and "dataset" in GROUPS  # the folders that used to collide are still there
    assert not keys & GROUPS, f"lab {name} keys {keys & GROUPS} collide with config groups"


@pytest.mark.parametrize("name", sorted(LABS))
def test_yaml_example_uses_only_the_labs_keys(name):
    _, example = lab_summary(name)
    assert example.startswith(f"nnml lab {name}")
    check_override_keys(name, example.split()[3:])  # raises on a key the lab does not have


def test_documented_commands_in_lecture1_use_valid_keys():
    text = (CONFIGS.parent / "docs" / "lecture1.md").read_text()
    found = re.findall(r"nnml lab ([a-z]+)((?: [\w.]+=[^\s`]+)*)", text)
    assert any(name == "gradcheck" for name, _ in found)
    for name, rest in found:
        if name in LABS:
            check_override_keys(name, rest.split())


def test_gradcheck_prelu_mse_runs_through_the_cli(tmp_path):
    r = cli(["lab", "gradcheck", "--json", "activation=prelu", "criterion=mse"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    numbers = json.loads(r.stdout.strip().splitlines()[-1])
    # against torch.autograd in float64: agreement to rounding
    assert numbers["all_ok"] and numbers["max_gap"] < 1e-10


def test_collapse_circles_runs_through_the_cli(tmp_path):
    r = cli(["lab", "collapse", "--json", "data=circles", "depth=2", "steps=150", "samples=300"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    numbers = json.loads(r.stdout.strip().splitlines()[-1])
    assert numbers["dataset"] == "circles"
    # concentric circles: no straight boundary beats chance by much; the MLP separates them
    assert numbers["accuracy"]["single linear"] < 0.7 and numbers["accuracy"]["mlp (relu)"] > 0.9
    # the caption states both linear accuracies rather than calling them the same
    acc = numbers["accuracy"]
    assert f"{acc['deep linear']:.4f}" in r.stderr and f"{acc['single linear']:.4f}" in r.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_lab_help_lists_every_lab_with_description_and_example(tmp_path, flag):
    r = cli(["lab", flag], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in LABS:
        description, example = lab_summary(name)
        assert description[:40] in r.stdout and example in r.stdout


def test_lab_name_help_shows_its_keys(tmp_path):
    r = cli(["lab", "gradcheck", "--help"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "criterion: cross_entropy" in r.stdout and "tolerance:" in r.stdout
    assert not (tmp_path / "outputs").exists()


def test_unknown_key_is_one_line_with_suggestion(tmp_path):
    r = cli(["lab", "gradcheck", "critrion=mse"], cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "'critrion' is not a key of lab gradcheck (did you mean 'criterion'?)" in r.stderr
    assert "valid keys: activation, hidden" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["uat", "widths=abc"], "widths=abc is not valid for lab uat; expected a non-empty list of positive integers"),
    (["uat", "widths=[4,0]"], "widths=[4,0] is not valid for lab uat"),
    (["trajectories", "steps=-5"], "steps=-5 is not valid for lab trajectories; expected a positive integer"),
    (["trajectories", "lr.adam=-1"], "lr.adam=-1 is not valid for lab trajectories; expected a positive number or null"),
    (["collapse", "samples=abc"], "samples=abc is not valid for lab collapse"),
    (["gradcheck", "hidden=[]"], "hidden=[] is not valid for lab gradcheck"),
])
def test_bad_values_are_one_line_naming_key_and_value(tmp_path, args, message):
    r = cli(["lab", *args], cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and r.stderr.strip().count("\n") == 0


def test_bad_value_in_process_raises_nnml_error(tmp_path):
    from nnml.cli.labs import run_lab

    with pytest.raises(NnmlError, match="points=1 is not valid for lab activations; expected an integer >= 2"):
        run_lab("activations", {"points": 1}, tmp_path)
    with pytest.raises(NnmlError, match="steps=True is not valid"):
        run_lab("trajectories", {"steps": True}, tmp_path)


def test_trajectory_paths_have_distinct_styles():
    import matplotlib.pyplot as plt
    import torch

    from nnml.lab.trajectories import FUNCTIONS

    same = torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    surface = FUNCTIONS["rosenbrock"]
    fig = _contour_figure(surface, {"sgd": same, "adam": same.clone()}, surface.start)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    sgd, adam = lines["sgd"], lines["adam"]
    # identical paths: the one drawn first is wider underneath, the one on top differs in style and marker
    assert sgd.get_linewidth() > adam.get_linewidth() and sgd.get_zorder() < adam.get_zorder()
    assert (sgd.get_linestyle(), sgd.get_marker()) != (adam.get_linestyle(), adam.get_marker())
    plt.close(fig)
