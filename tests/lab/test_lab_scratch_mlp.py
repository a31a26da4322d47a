"""ScratchMLP: gradients equal those of the same torch network, and it learns digits."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnml.errors import NnmlError
from nnml.lab.backprop import ScratchMLP
from nnml.models.activations import build_activation


def _torch_twin(model: ScratchMLP) -> nn.Sequential:
    """The same network from torch's own layers, sharing copies of the scratch model's values."""
    layers = []
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        linear = nn.Linear(w.shape[1], w.shape[0]).double()
        linear.weight.data.copy_(w.data)
        linear.bias.data.copy_(b.data)
        layers.append(linear)
        if i < len(model.weights) - 1:
            act = build_activation(model.activation).double()
            if model.activation == "prelu":
                act.weight.data.copy_(model.slopes[i].data)
            layers.append(act)
    return nn.Sequential(nn.Flatten(), *layers)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "prelu", "selu"])
def test_parameter_and_input_gradients_match_torch(activation):
    torch.manual_seed(0)
    model = ScratchMLP((2, 3), 4, hidden=[7, 5], activation=activation).double()
    twin = _torch_twin(model)
    x = torch.randn(9, 2, 3, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y = torch.randint(0, 4, (9,))
    out = model(x)
    ref = twin(x2)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    F.cross_entropy(out, y).backward()
    F.cross_entropy(ref, y).backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=0, atol=1e-10)
    scratch = [*model.weights, *model.biases, *model.slopes]
    theirs = [m.weight for m in twin if isinstance(m, nn.Linear)] + [m.bias for m in twin if isinstance(m, nn.Linear)]
    theirs += [m.weight for m in twin if isinstance(m, nn.PReLU)]
    assert len(scratch) == len(theirs)
    for p, q in zip(scratch, theirs):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=1e-10)


def test_torch_gradcheck_accepts_the_autograd_bridge():
    torch.manual_seed(1)
    model = ScratchMLP((3,), 2, hidden=[4], activation="tanh").double()
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp, *ps: model(inp), (x, *model.parameters()))


def test_state_dict_round_trip_and_unknown_activation():
    model = ScratchMLP((4,), 3, hidden=[5])
    other = ScratchMLP((4,), 3, hidden=[5])
    other.load_state_dict(model.state_dict())
    x = torch.randn(2, 4)
    torch.testing.assert_close(model(x), other(x))
    with pytest.raises(NnmlError, match="model.activation=relux"):
        ScratchMLP((4,), 3, activation="relux")


def test_learns_digits_with_the_runner_defaults():
    """Adam lr 1e-3, batch 128, 30 epochs, standardized digits, 75/25 split: >= 0.95 test accuracy."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(0)
    data = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(data.images, data.target, test_size=0.25, random_state=0,
                                              stratify=data.target)
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-8  # constant border pixels have std 0
    x_tr, x_te = (torch.tensor((a - mean) / std, dtype=torch.float32) for a in (x_tr, x_te))
    y_tr, y_te = torch.tensor(y_tr), torch.tensor(y_te)
    model = ScratchMLP((8, 8), 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(30):
        for idx in torch.randperm(len(x_tr)).split(128):
            opt.zero_grad()
            F.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
    with torch.no_grad():
        accuracy = (model(x_te).argmax(1) == y_te).float().mean().item()
    print(f"scratch_mlp digits test accuracy {accuracy:.4f}")
    assert accuracy >= 0.95
