"""bf16: half the bytes, outputs within bfloat16's precision of float32's, rebuilt exactly from its artifact."""

from __future__ import annotations

import copy

import torch

from nnml.accelerate import compiled
from nnml.accelerate.artifacts import load_variant, write_meta


def test_bf16_halves_the_file_and_stays_close(cnn, digits_data, method_ctx):
    ctx = method_ctx()
    v = compiled.bf16(cnn, ctx)
    torch.save(cnn.state_dict(), ctx.out_dir / "float.pt")
    assert v.files[0].stat().st_size < 0.6 * (ctx.out_dir / "float.pt").stat().st_size
    x = digits_data.x_test[:100]
    with torch.inference_mode():
        ref, got = cnn(x), v.module(x)
    assert got.dtype == torch.float32
    # bfloat16 keeps 8 significant bits: relative error ~2^-8 per op, a few ops deep
    assert (ref - got).abs().max() < 0.05 * ref.abs().max()
    write_meta(ctx.out_dir, "bf16")
    with torch.inference_mode():
        assert torch.equal(load_variant(ctx.out_dir, copy.deepcopy(cnn))(x), got)
    assert ("native" in v.notes[0]) or ("emulated" in v.notes[0])
