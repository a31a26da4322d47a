"""Augmentations: what they preserve (shape, dtype, device, labels), what they do (against per-sample references
with torch.roll, slicing and flip), determinism by seed, and mixup against cross-entropy with soft targets."""

import pytest
import torch
import torch.nn.functional as F

from nnml.augment.base import Compose
from nnml.augment.image import RandomHorizontalFlip, RandomTranslate
from nnml.augment.mixup import mixup, sample_lambda
from nnml.augment.signal import GaussianNoise, RandomScale, RandomShift, shift_last_axis
from nnml.errors import NnmlError
from nnml.tasks.supervised.regularize import Regularization, build_augment

SIGNAL = [RandomShift(3), RandomShift(2, mode="zeros"), GaussianNoise(0.1), RandomScale(0.8, 1.2),
          Compose(RandomShift(3), GaussianNoise(0.05), RandomScale())]
IMAGE = [RandomTranslate(2), RandomHorizontalFlip(), GaussianNoise(0.1), RandomTranslate(1, p=0.5)]


@pytest.mark.parametrize("aug,shape", [(a, (16, 1, 40)) for a in SIGNAL] + [(a, (16, 3, 8, 9)) for a in IMAGE])
def test_shape_dtype_device_kept_and_same_seed_same_result(aug, shape):
    x = torch.randn(*shape)
    torch.manual_seed(5)
    a = aug(x)
    torch.manual_seed(5)
    b = aug(x)
    torch.manual_seed(6)
    c = aug(x)
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)  # it did something
    assert aug(x.double()).dtype == torch.float64


def test_labels_pass_through_augmentation_untouched():
    reg = Regularization(augment=Compose(RandomShift(3), GaussianNoise(0.1)))
    x, y = torch.randn(32, 1, 40), torch.randint(0, 10, (32,))
    xa, ya = reg.train_batch(x, y.clone())
    assert torch.equal(ya, y) and xa.shape == x.shape


def test_shift_equals_per_sample_roll_and_zero_fill():
    x = torch.randn(8, 2, 10)
    s = torch.tensor([0, 1, -1, 3, -3, 9, -9, 2])
    circ = shift_last_axis(x, s, "circular")
    for i in range(8):
        assert torch.equal(circ[i], torch.roll(x[i], int(s[i]), dims=-1))
    zero = shift_last_axis(x, s, "zeros")
    for i in range(8):
        k = int(s[i])
        expected = torch.zeros_like(x[i])
        if k >= 0:
            expected[:, k:] = x[i, :, : 10 - k]
        else:
            expected[:, :k] = x[i, :, -k:]
        assert torch.equal(zero[i], expected)


def test_random_shift_draws_offsets_in_range():
    x = torch.arange(40.0).repeat(500, 1, 1)
    torch.manual_seed(0)
    out = RandomShift(3)(x)
    shifts = (out[:, 0, 0] * -1) % 40  # out[0] = x[-shift] = (-shift) mod 40
    shifts = torch.where(shifts > 20, shifts - 40, shifts)
    assert set(shifts.long().tolist()) == {-3, -2, -1, 0, 1, 2, 3}


def test_translate_matches_padding_and_slicing():
    x = torch.randn(6, 2, 5, 7)
    torch.manual_seed(1)
    out = RandomTranslate(2)(x)
    torch.manual_seed(1)
    dy = torch.randint(-2, 3, (6, 1))
    dx = torch.randint(-2, 3, (6, 1))
    padded = F.pad(x, (2, 2, 2, 2))
    for i in range(6):
        y0, x0 = 2 - int(dy[i]), 2 - int(dx[i])
        assert torch.equal(out[i], padded[i, :, y0 : y0 + 5, x0 : x0 + 7])


def test_flip_is_torch_flip_on_the_chosen_half():
    x = torch.randn(400, 1, 4, 4)
    torch.manual_seed(0)
    out = RandomHorizontalFlip(p=0.5)(x)
    flipped = torch.tensor([torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)])
    same = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert bool((flipped | same).all()) and 150 < int(flipped.sum()) < 250


def test_noise_and_scale_statistics():
    x = torch.ones(2000, 1, 40)
    torch.manual_seed(0)
    noise = GaussianNoise(0.3)(x) - x
    assert abs(noise.std().item() - 0.3) < 0.01 and abs(noise.mean().item()) < 0.01
    scaled = RandomScale(0.5, 1.5)(x)
    factor = scaled[:, 0, 0]
    assert torch.equal(scaled, factor.view(-1, 1, 1).expand_as(x))  # one factor per sample
    assert 0.5 <= factor.min() and factor.max() <= 1.5 and abs(factor.mean().item() - 1.0) < 0.03
    assert torch.equal(GaussianNoise(0.3, p=0.0)(x), x)


def test_mixup_loss_is_cross_entropy_with_mixed_one_hot_targets():
    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 40), torch.randint(0, 10, (16,))
    batch = mixup(x, y, alpha=0.4)
    lam = float(batch.lam)
    assert 0 < lam < 1 and torch.equal(batch.y_a, y)
    assert sorted(batch.y_b.tolist()) == sorted(y.tolist())  # a permutation of the labels
    logits = torch.randn(16, 10)
    soft = lam * F.one_hot(batch.y_a, 10).float() + (1 - lam) * F.one_hot(batch.y_b, 10).float()
    assert torch.allclose(batch.loss(F.cross_entropy, logits), F.cross_entropy(logits, soft), atol=1e-6)
    # the inputs are the same mixture of the same pairs: replay the draws (lam first, then the permutation)
    torch.manual_seed(0)
    torch.randn(16, 1, 40), torch.randint(0, 10, (16,))
    lam_again = sample_lambda(0.4, "cpu")
    perm = torch.randperm(16)
    assert float(lam_again) == lam and torch.equal(batch.y_b, y[perm])
    assert torch.allclose(batch.x, lam * x + (1 - lam) * x[perm], atol=1e-6)


def test_build_augment_from_configs_checks_targets():
    aug = build_augment([{"_target_": "nnml.augment.signal.RandomShift", "max_shift": 2},
                         {"_target_": "nnml.augment.signal.GaussianNoise", "std": 0.1}])
    assert isinstance(aug, Compose) and isinstance(aug[0], RandomShift) and aug[0].max_shift == 2
    named = build_augment({"noise": {"_target_": "nnml.augment.signal.GaussianNoise", "std": 0.2}, "off": None})
    assert isinstance(named, GaussianNoise) and named.std == 0.2
    assert build_augment(None) is None and build_augment([]) is None
    from nnml.config.targets import Trust

    with pytest.raises(NnmlError, match="not an allowed target"):
        build_augment([{"_target_": "os.system", "command": "true"}], Trust())
    with pytest.raises(NnmlError, match="task.augment"):
        build_augment("shift")
    with pytest.raises(NnmlError, match="RandomShift.max_shift=-1"):
        RandomShift(-1)
