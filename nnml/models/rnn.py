"""Recurrent nets (GRU, LSTM) for sequences of features ``(channels, length)``, read along the length.

The GRU default is the MNIST-1D paper's GRUBase (Greydanus and Kobak 2024): one bidirectional layer of 6 hidden
units, and every time step's output flattened into one linear layer (``readout: flatten``, 2 x 6 x 40 = 480
features on length 40). ``readout: last`` uses the final hidden state(s) instead, ``mean`` the mean over time;
both work for any length.
"""

from __future__ import annotations

import torch
from torch import nn

from nnml.errors import NnmlError, bad_choice

READOUTS = ("flatten", "last", "mean")
CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class RNN(nn.Module):
    """``cell`` (gru | lstm) with ``hidden_size``, ``num_layers`` and ``bidirectional``; ``dropout`` between layers
    and before the head; ``layer_norm`` / ``batch_norm`` on the head's input features."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, cell: str = "gru", hidden_size: int = 6,
                 num_layers: int = 1, bidirectional: bool = True, readout: str = "flatten", dropout: float = 0.0,
                 layer_norm: bool = False, batch_norm: bool = False):
        super().__init__()
        if cell not in CELLS:
            raise bad_choice("model.cell", cell, CELLS)
        if readout not in READOUTS:
            raise bad_choice("model.readout", readout, READOUTS)
        if len(input_shape) != 2:
            raise NnmlError(f"model={cell} needs sequences of shape (channels, length); this dataset gives "
                            f"input_shape={tuple(input_shape)}: use dataset=mnist1d, or model=mlp/cnn")
        if int(hidden_size) < 1 or int(num_layers) < 1:
            raise NnmlError(f"model.hidden_size={hidden_size} / model.num_layers={num_layers} are not valid; "
                            "choose positive integers")
        channels, length = int(input_shape[0]), int(input_shape[1])
        self.readout = readout
        self.cell = cell
        self.rnn = CELLS[cell](channels, int(hidden_size), num_layers=int(num_layers), batch_first=True,
                               bidirectional=bool(bidirectional), dropout=float(dropout) if num_layers > 1 else 0.0)
        directions = 2 if bidirectional else 1
        width = directions * int(hidden_size) * (length if readout == "flatten" else 1)
        head: list[nn.Module] = []
        if layer_norm:
            head.append(nn.LayerNorm(width))
        if batch_norm:
            head.append(nn.BatchNorm1d(width))
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(width, num_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.transpose(1, 2)  # (batch, channels, length) -> (batch, time, features)
        out, state = self.rnn(seq)
        if self.readout == "flatten":
            feats = out.reshape(out.shape[0], -1)
        elif self.readout == "mean":
            feats = out.mean(1)
        else:
            h = state[0] if self.cell == "lstm" else state  # (layers * directions, batch, hidden)
            directions = 2 if self.rnn.bidirectional else 1
            feats = h[-directions:].transpose(0, 1).reshape(x.shape[0], -1)  # the last layer's directions
        return self.head(feats)


class GRU(RNN):
    """A GRU over the sequence (the paper's bi-GRU of 6 units by default)."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, hidden_size: int = 6, num_layers: int = 1,
                 bidirectional: bool = True, readout: str = "flatten", dropout: float = 0.0, layer_norm: bool = False,
                 batch_norm: bool = False):
        super().__init__(input_shape, num_outputs, "gru", hidden_size, num_layers, bidirectional, readout, dropout,
                         layer_norm, batch_norm)


class LSTM(RNN):
    """An LSTM over the sequence."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, hidden_size: int = 6, num_layers: int = 1,
                 bidirectional: bool = True, readout: str = "flatten", dropout: float = 0.0, layer_norm: bool = False,
                 batch_norm: bool = False):
        super().__init__(input_shape, num_outputs, "lstm", hidden_size, num_layers, bidirectional, readout, dropout,
                         layer_norm, batch_norm)
