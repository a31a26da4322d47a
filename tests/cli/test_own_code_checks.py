"""Your own code is checked like nnml's before a run folder exists: every unknown constructor key at once, and one
batch of the real data through your model and loss (nnml/cli/checks/probe.py). Each fault is one line, exit code 2,
no folder. A loss of your own is named in the run's header."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from tests.data.files import assert_one_line_error, invoke, runs

CODE = textwrap.dedent('''
    import torch
    from torch import nn
    from torch.nn import functional as F


    def unreduced(outputs, targets):
        return F.cross_entropy(outputs, targets, reduction="none")


    def detached(outputs, targets):
        return torch.tensor(F.cross_entropy(outputs, targets).item())


    def as_float(outputs, targets):
        return float(F.cross_entropy(outputs, targets))


    def focal(outputs, targets, gamma=2.0):
        logp = F.log_softmax(outputs, 1).gather(1, targets[:, None])[:, 0]
        return (-(1 - logp.exp()) ** gamma * logp).mean()


    class FiveOut(nn.Module):
        def __init__(self, input_shape, width: int = 8):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(input_shape).prod()), 5))

        def forward(self, x):
            return self.net(x)


    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(x)
''')

MLP_KEYS = ["~model.hidden", "~model.activation", "~model.dropout", "~model.batch_norm", "~model.layer_norm",
            "~model.init"]
FAST = ["trainer.max_epochs=1", "trainer.device=cpu", "trainer.num_threads=1", "logger=none", "dataset=moons"]


@pytest.fixture
def student(tmp_path, monkeypatch):
    (tmp_path / "my_losses.py").write_text(CODE)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("my_losses", None)


def loss(name: str) -> list[str]:
    return [f"loss._target_=my_losses.{name}", "+loss._partial_=true", "~loss.label_smoothing"]


def model(name: str) -> list[str]:
    return [f"model._target_=my_losses.{name}", *MLP_KEYS]


@pytest.mark.parametrize("args, needle", [
    (loss("unreduced"), "my_losses.unreduced returned shape [16]; a loss must return a scalar (did you forget "
                        ".mean()?)"),
    (loss("detached"), "my_losses.detached returned a number that does not depend on the model's outputs"),
    (loss("as_float"), "my_losses.as_float returned a float, not a tensor"),
    (model("FiveOut"), "model my_losses.FiveOut returned shape [16, 5] for a batch of 16 inputs of shape [2]; the "
                       "supervised task needs [16, 2]"),
    (model("Broken"), "model my_losses.Broken failed on a batch of 16 inputs of shape [2]: RuntimeError: mat1 and "
                      "mat2 shapes cannot be multiplied"),
], ids=["unreduced", "detached", "float", "shape", "crash"])
def test_one_batch_finds_the_fault_before_a_folder_exists(student, args, needle):
    assert_one_line_error(["train", *FAST, *args], student, needle)
    assert not (student / "outputs").exists()


def test_every_unknown_key_of_your_class_at_once(student):
    assert_one_line_error(["train", *FAST, *model("FiveOut"), "+model.depth=3", "+model.widht=64"], student,
                          "model: my_losses.FiveOut takes none of the arguments 'depth' (did you mean 'width'?), "
                          "'widht' (did you mean 'width'?); its keys are: width; drop them with ~model.depth "
                          "~model.widht")


def test_a_sound_loss_of_your_own_trains_and_the_header_names_it(student):
    code, out, err, crash = invoke(["train", *FAST, *loss("focal")], student)
    assert code == 0 and crash is None, err
    assert "loss my_losses.focal" in out
    assert len(runs(student)) == 1


def test_the_probe_leaves_the_random_state_alone_and_says_when_it_skips(student):
    from nnml.cli.checks.probe import probe, skip_reason
    from nnml.config.compose import compose_train
    from nnml.config.targets import Trust

    cfg = compose_train([*FAST, *loss("focal")])
    before = torch.get_rng_state()
    assert probe(cfg, Trust.own(cfg))
    assert torch.equal(before, torch.get_rng_state())
    assert skip_reason(cfg) is None
    assert skip_reason(compose_train(FAST)) == "no model or loss of your own"
    assert "not cheap" in skip_reason(compose_train(["dataset=mnist", *loss("focal")]))
    assert "not cheap" in skip_reason(compose_train(["dataset=image_folder", *loss("focal")]))
    assert skip_reason(compose_train(["experiment=digits_vae", "model._target_=my_losses.FiveOut"])) == \
        "not the supervised task"
