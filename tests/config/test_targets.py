"""nnml/config/targets.py: a _target_ that does not import says why in one line (the module is missing and where nnml
looked, the module raised and where, the module lacks the name), without Hydra's multi-line log."""

from __future__ import annotations

import sys

import pytest

from nnml.config.targets import Trust, import_object, instantiate
from nnml.errors import NnmlError


@pytest.fixture
def homework(tmp_path, monkeypatch):
    """A student's folder as the current folder; the modules it holds are forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name in ("broken_models", "good_models"):
        sys.modules.pop(name, None)


def _message(node, key="model"):
    with pytest.raises(NnmlError) as e:
        instantiate(node, key=key, trust=Trust(["broken_models.", "good_models.", "missing_models.", "nnml.models."]))
    return str(e.value)


def test_a_module_that_raises_names_the_exception_and_the_line(homework, capsys):
    (homework / "broken_models.py").write_text("import torch\n\nclass Net(Module):\n    pass\n")
    msg = _message({"_target_": "broken_models.Net"})
    assert msg == ("model._target_=broken_models.Net cannot be imported: importing broken_models raised NameError: "
                   "name 'Module' is not defined (broken_models.py:3)")
    assert "Are you sure" not in capsys.readouterr().err  # no Hydra log before the one line


def test_a_missing_module_says_where_nnml_looked(homework):
    msg = _message({"_target_": "missing_models.Net"})
    assert msg.startswith("model._target_=missing_models.Net cannot be imported: no module named missing_models "
                          f"(looked in the installed packages and in {homework})")
    assert "put missing_models.py in the folder you run nnml from" in msg


def test_a_missing_name_or_submodule_gets_a_close_match(homework):
    (homework / "good_models.py").write_text("class TinyNet:\n    pass\n")
    assert _message({"_target_": "good_models.TinyNte"}).endswith(
        "module good_models has no TinyNte (did you mean 'TinyNet'?)")
    assert _message({"_target_": "nnml.models.mpl.MLP"}).endswith(
        "no module named nnml.models.mpl (did you mean 'nnml.models.mlp'?)")
    assert import_object("good_models.TinyNet", Trust(["good_models."])).__name__ == "TinyNet"
    assert import_object("torch.nn.Linear", Trust()).__name__ == "Linear"
