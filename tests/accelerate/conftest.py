"""Small trained models on digits for the acceleration tests (trained once per session, ~1 s each)."""

from __future__ import annotations

import pytest
import torch

from tests.accelerate.helpers import train


@pytest.fixture(scope="session")
def digits_data():
    from nnml.data.sklearn_sets import digits

    torch.set_num_threads(1)
    return digits(seed=0)


@pytest.fixture(scope="session")
def mlp(digits_data):
    from nnml.models.mlp import MLP

    torch.manual_seed(0)
    m = MLP((1, 8, 8), 10, hidden=[64, 64])
    train(m, digits_data.x_train, digits_data.y_train, 8)
    return m


@pytest.fixture(scope="session")
def cnn(digits_data):
    from nnml.models.cnn import CNN

    torch.manual_seed(0)
    m = CNN((1, 8, 8), 10, channels=(8, 16), hidden=32)
    train(m, digits_data.x_train, digits_data.y_train, 8)
    return m


@pytest.fixture
def method_ctx(digits_data, tmp_path):
    """A MethodContext over digits, fine-tuning with the helper above."""
    from nnml.accelerate.variant import MethodContext

    d = digits_data

    def make(**options):
        return MethodContext(example=d.x_test[:32], calibration=lambda: [d.x_train[:256]], out_dir=tmp_path,
                             finetune=lambda m, ep: train(m, d.x_train, d.y_train, ep), num_outputs=10,
                             options=options)

    return make
