"""A student's own model (tests): a module whose constructor takes some of the data's facts by name."""

from pathlib import Path

from torch import nn


class TinyNet(nn.Sequential):
    def __init__(self, input_shape, num_outputs, width: int = 32):
        n = 1
        for s in input_shape:
            n *= s
        super().__init__(nn.Flatten(), nn.Linear(n, width), nn.ReLU(), nn.Linear(width, num_outputs))


class NoFacts(nn.Module):
    """Knows nothing of the data: a 2-D input, 2 classes (moons)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 2)

    def forward(self, x):
        return self.net(x)


def my_loss(outputs, targets):
    """A plain function as a loss."""
    return nn.functional.cross_entropy(outputs, targets)


def make_loss():
    return my_loss


MARKER = Path("imported_my_models.txt")
