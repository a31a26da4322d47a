"""Shapes and conditioning of the VAE and GAN networks, MLP and convolutional, on 8x8 and 28x28 images and 2-D
points; clear errors for sizes a conv net cannot take; the EMA update."""

from __future__ import annotations

import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.generative.ema import ema_copy, ema_update
from nnml.tasks.generative.gan_nets import Discriminator, Generator
from nnml.tasks.generative.vae_nets import VAE


@pytest.mark.parametrize("shape, arch", [((1, 8, 8), "mlp"), ((1, 8, 8), "conv"), ((1, 28, 28), "conv"),
                                         ((2,), "mlp")])
def test_shapes(shape, arch):
    y = torch.randint(0, 10, (5,))
    g = Generator(shape, 10, latent_dim=7, arch=arch, hidden=[16], channels=(8, 4), conditional=True,
                  value_range=[0.0, 1.0] if len(shape) == 3 else None)
    x = g(torch.randn(5, 7), y)
    assert x.shape == (5, *shape)
    if len(shape) == 3:
        assert 0 <= x.min() and x.max() <= 1
    d = Discriminator(shape, 10, arch=arch, hidden=[16], channels=(4, 8), conditional=True)
    assert d(x, y).shape == (5,)
    v = VAE(shape, 10, latent_dim=3, arch=arch, hidden=[16], channels=(4, 8), conditional=True)
    mu, logvar = v.encode(x, y)
    assert mu.shape == logvar.shape == (5, 3)
    assert v.decode(mu, y).shape == (5, *shape)


def test_conditioning_changes_the_output():
    torch.manual_seed(0)
    g = Generator((1, 8, 8), 10, latent_dim=4, conditional=True)
    z = torch.randn(2, 4)
    assert not torch.allclose(g(z, torch.tensor([0, 0])), g(z, torch.tensor([1, 1])))
    d = Discriminator((1, 8, 8), 10, conditional=True)
    x = torch.rand(2, 1, 8, 8)
    assert not torch.allclose(d(x, torch.tensor([0, 0])), d(x, torch.tensor([3, 3])))


def test_conv_refuses_what_it_cannot_take():
    with pytest.raises(NnmlError, match="needs image data"):
        Generator((2,), arch="conv")
    with pytest.raises(NnmlError, match="divisible by 8"):
        Discriminator((1, 28, 28), arch="conv", channels=(4, 8, 16))
    with pytest.raises(NnmlError, match="model.generator.arch=dense is not valid"):
        Generator((2,), arch="dense")


def test_ema_update():
    torch.manual_seed(0)
    g = Generator((2,), latent_dim=2, hidden=[4], batch_norm=True)
    ema = ema_copy(g)
    before = [p.clone() for p in ema.parameters()]
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    g.train()(torch.randn(8, 2))  # moves batch-norm statistics
    ema_update(ema, g, decay=0.9)
    for b, e, p in zip(before, ema.parameters(), g.parameters()):
        torch.testing.assert_close(e, 0.9 * b + 0.1 * p)
        assert not e.requires_grad
    for e, b in zip(ema.buffers(), g.buffers()):
        assert torch.equal(e, b)


def test_image_grid_draws_samples_that_are_not_images():
    """A VAE or GAN on signals or feature rows (experiment=digits_vae dataset=iris) gets a strip of pixels per
    sample instead of a crash after training."""
    import torch

    from nnml.tasks.generative.plots import image_grid

    rows = image_grid(torch.rand(6, 4), nrow=3)          # 6 rows of 4 features: 2 x 3 strips
    assert rows.shape[0] == 1 and rows.shape[2] > rows.shape[1]
    signals = image_grid(torch.rand(4, 1, 40), nrow=2)   # MNIST-1D-like
    assert signals.shape[0] == 1 and 0.0 <= float(signals.min()) and float(signals.max()) <= 1.0
    images = image_grid(torch.rand(4, 1, 8, 8), nrow=2)  # unchanged for images: 8x8 enlarged 4x, pad 1
    assert tuple(images.shape) == (1, 4 * (2 * 9 + 1), 4 * (2 * 9 + 1))
