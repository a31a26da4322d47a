"""ONNX export (dynamo exporter) run in ONNX Runtime: outputs within 1e-4 of PyTorch's at any batch size; an op
ONNX lacks is skipped with its name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnml.accelerate import onnx_export
from nnml.accelerate.artifacts import load_variant, write_meta
from nnml.accelerate.variant import Skip


def test_onnx_runtime_matches_pytorch_on_the_cnn(cnn, digits_data, method_ctx):
    ctx = method_ctx()
    v = onnx_export.onnx(cnn, ctx)
    assert v.extra["within_tolerance"] and v.extra["max_abs_diff"] <= 1e-4
    write_meta(ctx.out_dir, "onnx")
    rebuilt = load_variant(ctx.out_dir, cnn)
    with torch.inference_mode():
        for n in (1, 7, 200):  # the batch dimension is dynamic
            x = digits_data.x_test[:n]
            assert (rebuilt(x) - cnn(x)).abs().max() <= 1e-4


class WithSvd(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 64)

    def forward(self, x):
        return torch.linalg.svdvals(self.lin(x.flatten(1)).reshape(-1, 8, 8))


def test_an_op_onnx_lacks_is_skipped_naming_it(method_ctx):
    with pytest.raises(Skip, match=r"cannot export this model \(ONNX has no function for aten\._linalg_svd"):
        onnx_export.onnx(WithSvd().eval(), method_ctx())
