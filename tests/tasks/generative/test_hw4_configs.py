"""Every option made for task=gan / task=vae (marked ``# tasks:``, so the generic supervised checks skip them)
composes and builds: toy datasets, VAE and GAN models with data-decided sizes, per-network optimizers and
schedulers that step."""

from __future__ import annotations

import pytest
import torch

from nnml.config import catalog
from nnml.config.targets import Trust
from nnml.run.build import build_data, build_model, build_optimizer, build_scheduler
from tests.conftest import compose


def test_my_options_are_marked_for_their_tasks():
    for group, option in [("model", "gan_mlp"), ("model", "gan_dcgan"), ("model", "vae_mlp"), ("model", "vae_conv"),
                          ("optimizer", "gan_adam"), ("optimizer", "gan_adam_wgan"), ("scheduler", "gan_cosine"),
                          ("dataset", "ring"), ("dataset", "grid"), ("dataset", "two_moons"),
                          ("dataset", "swiss_roll")]:
        assert option not in catalog.supervised_options(group), (group, option)


@pytest.mark.parametrize("option, modes", [("ring", 8), ("grid", 25), ("two_moons", None), ("swiss_roll", None)])
def test_toy_datasets_build(option, modes):
    data = build_data(compose([f"dataset={option}", "dataset.n_samples=500"]).dataset, seed=0, trust=Trust())
    assert data.task == "points2d" and data.input_shape == (2,) and data.sizes()["train"] == 400
    assert (len(data.meta["modes"]) if modes else None) == modes


@pytest.mark.parametrize("option", ["vae_mlp", "vae_conv"])
def test_vae_models_build(option):
    cfg = compose(["task=vae", f"model={option}", "dataset.standardize=unit"])
    data = build_data(cfg.dataset, seed=0, trust=Trust())
    vae = build_model(cfg.model, data, Trust())
    mu, logvar = vae.encode(data.x_train[:4])
    assert mu.shape == (4, cfg.model.latent_dim) and vae.decode(mu).shape == (4, 1, 8, 8)


@pytest.mark.parametrize("model", ["gan_mlp", "gan_dcgan"])
@pytest.mark.parametrize("optimizer, scheduler", [("gan_adam", "gan_cosine"), ("gan_adam_wgan", "none")])
def test_gan_models_optimizers_and_schedulers_build_and_step(model, optimizer, scheduler):
    cfg = compose(["task=gan", f"model={model}", f"optimizer={optimizer}", f"scheduler={scheduler}",
                   "dataset.standardize=unit", "trainer.max_epochs=3"])
    data = build_data(cfg.dataset, seed=0, trust=Trust())
    gen, disc = build_model(cfg.model.generator, data, Trust()), build_model(cfg.model.discriminator, data, Trust())
    fake = gen(torch.randn(4, cfg.model.generator.latent_dim))
    assert fake.shape == (4, 1, 8, 8) and 0 <= fake.min() and fake.max() <= 1  # data in [0, 1]: a sigmoid
    for name, net in (("generator", gen), ("discriminator", disc)):
        opt = build_optimizer(cfg.optimizer[name], net, Trust())
        node = cfg.scheduler.get(name) if "_target_" not in cfg.scheduler else cfg.scheduler
        sched, _ = build_scheduler(node, opt, steps_per_epoch=1, max_epochs=3, trust=Trust())
        before = [p.detach().clone() for p in net.parameters()]
        out = disc(fake.detach()) if name == "discriminator" else disc(gen(torch.randn(4, 32)))
        out.mean().backward()
        opt.step()
        if sched is not None:
            sched.step()
            assert opt.param_groups[0]["lr"] < cfg.optimizer[name].lr
        assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
