"""View augmentations: shapes kept, magnitude 0 is the identity, shifts are exact translations, the global RNG
makes them reproducible, and bad keys answer one line."""

import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.representation import view_ops as ops
from nnml.tasks.representation.views import KINDS, Views, build_views, kind_of

SHAPES = {"image": (1, 8, 8), "signal": (1, 40), "tabular": (13,)}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_op_keeps_the_shape_and_zero_is_identity(kind):
    x = torch.randn(16, *SHAPES[kind])
    for name, fn in KINDS[kind].items():
        assert fn(x, 0.0) is x, name
        y = fn(x, 0.3 if name not in ("rotate",) else 20.0)
        assert y.shape == x.shape and y.dtype == x.dtype, name
        assert not torch.equal(y, x), name
        assert torch.isfinite(y).all(), name


def test_shift_1d_is_a_zero_padded_translation():
    torch.manual_seed(0)
    x = torch.arange(1, 11, dtype=torch.float32).repeat(50, 1)  # (50, 10): flat signals
    y = ops.shift_1d(x, 0.3)
    for row in y:
        nz = row.nonzero().flatten()
        s = int(nz[0]) if row[nz[0]] == 1 else -(int(row[nz[0]]) - 1)
        expect = torch.zeros(10)
        for t in range(10):
            if 0 <= t - s < 10:
                expect[t] = x[0, t - s]
        torch.testing.assert_close(row, expect)
    # both directions occur, none beyond 3 samples
    assert (y[:, 0] == 0).any() and (y[:, -1] == 0).any() and (y[:, 3] != 0).all() and (y[:, 6] != 0).all()


def test_shift_2d_is_a_zero_padded_translation():
    torch.manual_seed(1)
    x = torch.zeros(30, 2, 8, 8)
    x[:, :, 4, 4] = 1.0
    y = ops.shift_2d(x, 0.25)
    for img in y:
        assert img.sum() == 2 and torch.equal(img[0], img[1])  # one pixel moved, the same in every channel
        r, c = (img[0] == 1).nonzero()[0].tolist()
        assert abs(r - 4) <= 2 and abs(c - 4) <= 2


def test_stretch_with_factor_one_and_crop_rotate_small_are_near_identity():
    x = torch.randn(4, 1, 40)
    torch.testing.assert_close(ops.stretch_1d(x, 1e-9), x, atol=1e-5, rtol=0)
    img = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(ops.rotate(img, 1e-7), img, atol=1e-4, rtol=0)
    torch.testing.assert_close(ops.crop(img, 1e-9), img, atol=1e-4, rtol=0)


def test_cutout_and_mask_zero_the_expected_share():
    torch.manual_seed(0)
    img = torch.ones(200, 1, 10, 10)
    holes = (ops.cutout(img, 0.4) == 0).flatten(1).sum(1)
    assert holes.max() == 16 and holes.min() >= 4  # a 4x4 square, clipped at the borders
    rows = torch.ones(2000, 50)
    assert (ops.feature_mask(rows, 0.2) == 0).double().mean().item() == pytest.approx(0.2, abs=0.01)


def test_views_follow_the_global_rng_and_strength_scales_magnitudes():
    v = build_views({"kind": "auto", "strength": 2.0, "signal": {"shift": 0.1, "noise": 0.05, "stretch": 0}},
                    (1, 40), "mnist1d")
    assert v.kind == "signal" and v.magnitudes == {"shift": pytest.approx(0.2), "noise": pytest.approx(0.1)}
    x = torch.randn(8, 1, 40)
    torch.manual_seed(3)
    a1, a2 = v.pair(x)
    torch.manual_seed(3)
    b1, b2 = v.pair(x)
    assert torch.equal(a1, b1) and torch.equal(a2, b2) and not torch.equal(a1, a2)
    assert Views("image", {"crop": 0.9}, strength=5).magnitudes["crop"] == 0.95  # fractions stay below 1
    assert Views("tabular", {"noise": 0.1}, strength=0)(x) is x


def test_kind_of():
    assert kind_of((1, 8, 8)) == "image"
    assert kind_of((1, 40)) == "signal"
    assert kind_of((40,), "mnist1d") == "signal"
    assert kind_of((13,), "wine") == "tabular"


def test_bad_view_keys_answer_one_line():
    with pytest.raises(NnmlError, match=r"task.views.signal.rotate: signal views have no transform 'rotate'"):
        build_views({"signal": {"rotate": 10}}, (1, 40))
    with pytest.raises(NnmlError, match=r"task.views.kind=sound is not valid"):
        build_views({"kind": "sound"}, (1, 40))
    with pytest.raises(NnmlError, match=r"task.views.strength=-1"):
        build_views({"strength": -1}, (1, 40))
    with pytest.raises(NnmlError, match=r"task.views.kind=image needs"):
        build_views({"kind": "image"}, (13,))
    with pytest.raises(NnmlError, match=r"task.views.colour is not a key"):
        build_views({"colour": 1}, (13,))
    with pytest.raises(NnmlError, match=r"task.views.tabular.noise=-0.1"):
        build_views({"tabular": {"noise": -0.1}}, (13,))
