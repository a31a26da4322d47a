"""cnn1d, gru, lstm and mlp's layer_norm against PyTorch references built by hand from the same weights."""

import pytest
import torch
from torch import nn

from nnml.errors import NnmlError
from nnml.models.cnn1d import CNN1D
from nnml.models.mlp import MLP
from nnml.models.rnn import GRU, LSTM


def test_cnn1d_default_is_the_papers_convbase():
    torch.manual_seed(0)
    m = CNN1D((1, 40), 10)
    # ConvBase (Greydanus & Kobak): conv(1->25,k5,s2,p1), conv(25->25,k3,s2,p1) x2, ReLU, flatten 125 -> 10.
    ref = nn.Sequential(nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(),
                        nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(125, 10))
    ours = [p for p in m.parameters()]
    for dst, src in zip(ref.parameters(), ours, strict=True):
        dst.data.copy_(src.data)
    x = torch.randn(7, 1, 40)
    assert torch.allclose(m(x), ref(x), atol=1e-6)
    assert sum(p.numel() for p in m.parameters()) == 5210


@pytest.mark.parametrize("cls,cell", [(GRU, nn.GRU), (LSTM, nn.LSTM)])
@pytest.mark.parametrize("readout", ["flatten", "last", "mean"])
def test_rnn_matches_torch_reference(cls, cell, readout):
    torch.manual_seed(0)
    m = cls((3, 12), 5, hidden_size=4, num_layers=2, bidirectional=True, readout=readout)
    x = torch.randn(6, 3, 12)
    ref = cell(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    ref.load_state_dict(m.rnn.state_dict())
    out, state = ref(x.transpose(1, 2))
    h = state[0] if cell is nn.LSTM else state
    feats = {"flatten": out.reshape(6, -1), "mean": out.mean(1),
             "last": torch.cat([h[-2], h[-1]], 1)}[readout]  # the last layer's forward and backward states
    expected = m.head[-1](feats)
    assert torch.allclose(m(x), expected, atol=1e-6)


def test_sequence_models_refuse_flat_or_image_inputs_in_one_line():
    for make in (lambda: CNN1D((64,), 10), lambda: GRU((1, 8, 8), 10), lambda: LSTM((4,), 3)):
        with pytest.raises(NnmlError, match="needs sequences of shape"):
            make()
    with pytest.raises(NnmlError, match="model.readout=max"):
        GRU((1, 40), 10, readout="max")
    with pytest.raises(NnmlError, match="model.kernel_sizes"):
        CNN1D((1, 40), 10, channels=[8, 8], kernel_sizes=[3, 3, 3])


def test_mlp_layer_norm_option_and_unchanged_default():
    torch.manual_seed(0)
    plain = MLP((1, 40), 10, hidden=[32, 16])
    assert [type(m).__name__ for m in plain] == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    ln = MLP((1, 40), 10, hidden=[32], layer_norm=True)
    assert [type(m).__name__ for m in ln] == ["Flatten", "Linear", "LayerNorm", "ReLU", "Linear"]
    h = ln[2](ln[1](torch.randn(5, 40)))
    assert torch.allclose(h.mean(1), torch.zeros(5), atol=1e-5)
    with pytest.raises(NnmlError, match="batch_norm=true and model.layer_norm=true"):
        MLP((40,), 10, batch_norm=True, layer_norm=True)


def test_cnn1d_norm_and_head_options():
    m = CNN1D((2, 32), 4, channels=[8, 8], kernel_sizes=3, hidden=[16], batch_norm=True, dropout=0.1)
    kinds = [type(x).__name__ for x in m.modules()]
    assert kinds.count("BatchNorm1d") == 2 and kinds.count("Dropout") == 3 and kinds.count("Linear") == 2
    assert m(torch.randn(3, 2, 32)).shape == (3, 4)
    ln = CNN1D((1, 40), 10, layer_norm=True)
    assert sum(isinstance(x, nn.GroupNorm) and x.num_groups == 1 for x in ln.modules()) == 3
