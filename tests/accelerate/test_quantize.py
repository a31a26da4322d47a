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


def test_torch_dynamic_int8_conv_rounds_its_output_to_the_input_grid():
    """Why int8_dynamic keeps convolutions float: torch's dynamic int8 convolution, against the float convolution
    as the oracle, is right on inputs centred on 0 and wrong after a ReLU (the input's zero point is 0): its
    negative outputs become 0. Should a torch release fix the kernel, this test fails: then convolutions can be
    quantized dynamically again (nnml/accelerate/quantize.py)."""
    import torch.ao.nn.quantized.dynamic as nnqd

    quantize._engine()
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 4, 3, padding=1)
    conv.qconfig = torch.ao.quantization.default_dynamic_qconfig
    q = nnqd.Conv2d.from_float(conv)
    x = torch.randn(2, 8, 16, 16)
    with torch.inference_mode():
        centred = (q(x) - conv(x)).norm() / conv(x).norm()
        relu = torch.relu(x)
        ref, got = conv(relu), q(relu)
    assert centred < 0.05  # right where the input's range is symmetric
    assert (ref < -0.1).any() and got.min() >= 0  # after a ReLU every negative output is lost
    assert (ref - got).norm() / ref.norm() > 0.3


def test_dynamic_int8_keeps_convs_float_and_names_them(cnn, digits_data, method_ctx):
    import torch.ao.nn.quantized.dynamic as nnqd

    v = quantize.int8_dynamic(cnn, method_ctx())
    assert type(v.module.features[0]) is torch.nn.Conv2d and isinstance(v.module.head[1], nnqd.Linear)
    notes = " ".join(v.notes)
    assert "int8 weights: 2 Linear (head.1, head.3)" in notes
    assert "kept float32: 2 Conv2d (features.0, features.3)" in notes and "input's int8 grid" in notes
    d = digits_data
    assert abs(accuracy(v.module, d.x_test, d.y_test) - accuracy(cnn, d.x_test, d.y_test)) <= 0.01


def test_dynamic_skips_a_model_without_linear_layers_saying_why(method_ctx):
    with pytest.raises(Skip, match="no Linear or recurrent"):
        quantize.int8_dynamic(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.ReLU()), method_ctx())
    convs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    with pytest.raises(Skip, match="its 2 convolutions stay float32 because torch's dynamic int8 convolution"):
        quantize.int8_dynamic(convs, method_ctx())


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
