"""Int8 quantization against the float model it came from (PyTorch's own float forward is the oracle)."""

from __future__ import annotations

import pytest
import torch

from nnml.accelerate import quantize
from nnml.accelerate.artifacts import load_variant, write_meta
from nnml.accelerate.variant import Skip
from tests.accelerate.helpers import accuracy


def test_dynamic_int8_close_to_float_and_smaller(mlp, digits_data, method_ctx):
    from nnml.models.mlp import MLP

    torch.manual_seed(0)
    big = MLP((1, 8, 8), 10, hidden=[256, 256]).eval()  # wide enough that the file is weights, not zip overhead
    ctx = method_ctx()
    v = quantize.int8_dynamic(big, ctx)
    x = digits_data.x_test
    with torch.inference_mode():
        ref, got = big(x), v.module(x)
    # 8-bit weights and activations through three layers: errors of a few percent of the output range
    assert (ref - got).abs().max() < 0.1 * ref.abs().max()
    torch.save(big.state_dict(), ctx.out_dir / "float.pt")
    assert (ctx.out_dir / "float.pt").stat().st_size > 3 * v.files[0].stat().st_size
    # the trained model keeps its accuracy within a point
    v2 = quantize.int8_dynamic(mlp, method_ctx())
    d = digits_data
    assert abs(accuracy(v2.module, d.x_test, d.y_test) - accuracy(mlp, d.x_test, d.y_test)) <= 0.01


def test_dynamic_int8_quantizes_convs_too(cnn, method_ctx):
    v = quantize.int8_dynamic(cnn, method_ctx())
    import torch.ao.nn.quantized.dynamic as nnqd

    assert isinstance(v.module.features[0], nnqd.Conv2d) and isinstance(v.module.head[1], nnqd.Linear)


def test_dynamic_skips_a_model_without_quantizable_layers(method_ctx):
    with pytest.raises(Skip, match="no Linear, recurrent"):
        quantize.int8_dynamic(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.ReLU()), method_ctx())


def test_fusion_groups_of_the_cnn(cnn):
    assert quantize.fusion_groups(cnn) == [["features.0", "features.1"], ["features.3", "features.4"],
                                           ["head.1", "head.2"]]


def test_static_int8_cnn_close_to_float(cnn, digits_data, method_ctx):
    v = quantize.int8_static(cnn, method_ctx())
    import torch.ao.nn.intrinsic.quantized as nniq

    assert sum(isinstance(m, nniq.ConvReLU2d) for m in v.module.modules()) == 2
    d = digits_data
    assert abs(accuracy(v.module, d.x_test, d.y_test) - accuracy(cnn, d.x_test, d.y_test)) <= 0.02
    with torch.inference_mode():
        agree = (v.module(d.x_test).argmax(1) == cnn(d.x_test).argmax(1)).float().mean()
    assert agree > 0.97


def test_static_int8_of_an_mlp_is_skipped_with_the_reason(mlp, method_ctx):
    with pytest.raises(Skip, match="no convolution layers"):
        quantize.int8_static(mlp, method_ctx())


@pytest.mark.parametrize("method", ["int8_dynamic", "int8_static"])
def test_saved_int8_variants_rebuild_exactly(method, cnn, digits_data, method_ctx):
    import copy

    ctx = method_ctx()
    v = getattr(quantize, method)(cnn, ctx)
    write_meta(ctx.out_dir, method)
    fresh = copy.deepcopy(cnn)
    for p in fresh.parameters():
        torch.nn.init.zeros_(p)  # the rebuilt variant must take everything from the artifact
    rebuilt = load_variant(ctx.out_dir, fresh, example=digits_data.x_train[:8])
    x = digits_data.x_test[:64]
    with torch.inference_mode():
        assert torch.equal(rebuilt(x), v.module(x))
