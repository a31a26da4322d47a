"""Encoders from classifier configs: the head is dropped, the embedding size found, a student's model works the
same way; the downstream head is checked against the encoder's output size."""

import pytest
import torch
from torch import nn

from nnml.errors import NnmlError
from nnml.models.cnn import CNN
from nnml.models.cnn1d import CNN1D
from nnml.models.linear import LinearModel
from nnml.models.mlp import MLP
from nnml.tasks.representation.encoder import _build_head, strip_head


@pytest.mark.parametrize("make, shape, dim", [
    (lambda: MLP((13,), 3, hidden=[32, 16]), (13,), 16),
    (lambda: CNN((1, 8, 8), 10, channels=[4, 8], hidden=24), (1, 8, 8), 24),
    (lambda: CNN1D((1, 40), 10), (1, 40), 125),
])
def test_strip_head_drops_the_classifier(make, shape, dim):
    torch.manual_seed(0)
    model = make()
    model.eval()
    x = torch.randn(5, *shape)
    # The embedding is what the last linear layer received.
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    seen = {}
    last.register_forward_hook(lambda m, inp, out: seen.setdefault("z", inp[0]))
    logits = model(x)
    enc = strip_head(model, shape)
    assert enc.out_dim == dim
    z = enc(x)
    torch.testing.assert_close(z, seen["z"].flatten(1))
    torch.testing.assert_close(last(z), logits)  # the dropped head on the embedding gives the old logits


def test_own_model_with_encode_method():
    class Mine(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Conv1d(1, 3, 3)
            self.out = nn.Linear(3 * 38, 2)

        def encode(self, x):
            return self.body(x).relu()

        def forward(self, x):
            return self.out(self.encode(x).flatten(1))

    enc = strip_head(Mine(), (1, 40))
    assert enc.out_dim == 3 * 38 and enc(torch.randn(2, 1, 40)).shape == (2, 114)


def test_models_that_cannot_be_encoders_answer_one_line():
    with pytest.raises(NnmlError, match="single linear layer"):
        strip_head(LinearModel((4,), 2), (4,))
    with pytest.raises(NnmlError, match="no nn.Linear classifier to drop"):
        strip_head(nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten()), (1, 10))


def test_head_configs_fill_in_sizes_and_refuse_a_mismatch():
    head = _build_head({"_target_": "torch.nn.Linear"}, (), 125, 10, "RUN")
    assert (head.in_features, head.out_features) == (125, 10)
    mlp_head = _build_head(None, [32], 125, 10, "RUN")
    assert mlp_head(torch.zeros(3, 125)).shape == (3, 10)
    with pytest.raises(NnmlError, match=r"model.head.in_features=64 does not fit the encoder of RUN, whose "
                                         r"embeddings have 125 features; set model.head.in_features=125"):
        _build_head({"_target_": "torch.nn.Linear", "in_features": 64}, (), 125, 10, "RUN")
    with pytest.raises(NnmlError, match="model.head gives outputs of shape"):
        _build_head({"_target_": "torch.nn.Linear", "out_features": 3}, (), 125, 10, "RUN")


def test_a_chain_of_encoders_that_comes_back_is_refused_at_once(tmp_path):
    """A -> B -> A (each run's model built on the other's encoder) is refused by following the saved configs as
    data; before, only Python's recursion limit ended the rereading (39 s in the hostile-folder suite)."""
    from nnml.tasks.representation.encoder import _refuse_cycle

    def run(name, encoder):
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / ".hydra" / "config.yaml").write_text(
            f"model:\n  _target_: nnml.tasks.representation.encoder.PretrainedClassifier\n  encoder: {encoder}\n")
        return tmp_path / name

    a, b = run("a", tmp_path / "b"), run("b", tmp_path / "a")
    with pytest.raises(NnmlError, match="leads back to a folder already on the way") as e:
        _refuse_cycle(a, {"encoder": str(b)}, "model.encoder")
    assert "\n" not in str(e.value) and str(a.resolve()) in str(e.value)
    _refuse_cycle(a, {"encoder": str(tmp_path / "missing")}, "model.encoder")  # the nested load names that one
    run("c", "")  # a plain pretraining run ends the chain
    _refuse_cycle(a, {"encoder": str(tmp_path / "c")}, "model.encoder")
