"""Two small tasks written only for the tests, as a student would write them in their own file (outside nnml):

- ``TwoPlayers``: a tiny GAN on 2-D points: two modules, two optimizer slots stepping alternately (each with its
  own learning rate and scheduler), a fixed noise batch held in the task's own checkpoint state.
- ``ClosedForm``: ridge regression by a closed-form solve per step, no optimizer and no backward at all: the
  sufficient statistics X'X and X'y accumulate in module buffers and the weights are re-solved every batch.
"""

import torch
from torch import nn
from torch.nn import functional as F

from nnml.tasks.base import Task


class TwoPlayers(Task):
    default_monitor = "val/d_loss"
    automatic_optimization = False

    def __init__(self, latent: int = 4, d_lr: float = 0.01, g_lr: float = 0.005):
        super().__init__()
        self.latent, self.d_lr, self.g_lr = latent, d_lr, g_lr

    def metric_directions(self):
        return {"d_loss": "min", "g_loss": "min", "loss": "min"}

    def setup(self, builder):
        dim = builder.data.input_shape[0]
        torch.manual_seed(builder.seed)
        gen = nn.Sequential(nn.Linear(self.latent, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, dim))
        disc = nn.Sequential(nn.Linear(dim, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        self.modules = {"generator": gen.to(builder.device), "discriminator": disc.to(builder.device)}
        step = {"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 2, "gamma": 0.5}
        self.slots = {
            "discriminator": builder.optimizer(disc.parameters(), {"_target_": "torch.optim.Adam", "_partial_": True,
                                                                   "lr": self.d_lr}),
            "generator": builder.optimizer(gen.parameters(), {"_target_": "torch.optim.SGD", "_partial_": True,
                                                              "lr": self.g_lr, "momentum": 0.9}, scheduler=step),
        }
        self.fixed_noise = torch.randn(64, self.latent, device=builder.device)

    def _losses(self, real, ctx):
        gen, disc = ctx.forward("generator"), ctx.forward("discriminator")
        z = torch.randn(real.shape[0], self.latent, device=real.device)
        fake = gen(z)
        d_real, d_fake = disc(real), disc(fake.detach())
        d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        return fake, d_loss

    def training_step(self, batch, ctx, metrics):
        real = batch[0]
        fake, d_loss = self._losses(real, ctx)
        ctx.optimize(d_loss, "discriminator")
        g_out = ctx.forward("discriminator")(fake)
        g_loss = F.binary_cross_entropy_with_logits(g_out, torch.ones_like(g_out))
        ctx.optimize(g_loss, "generator")
        n = real.shape[0]
        metrics.add("d_loss", d_loss, n)
        metrics.add("g_loss", g_loss, n)
        return {"loss": d_loss.detach() + g_loss.detach(), "d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def validation_step(self, batch, ctx, metrics):
        real = batch[0]
        _, d_loss = self._losses(real, ctx)
        metrics.add("d_loss", d_loss, real.shape[0])

    def evaluate(self, split, ctx):
        out = super().evaluate(split, ctx)
        out["fixed_mean"] = float(ctx.module("generator")(self.fixed_noise).mean())
        return out

    def state_dict(self):
        return {"fixed_noise": self.fixed_noise}

    def load_state_dict(self, state):
        if "fixed_noise" in state:
            self.fixed_noise = state["fixed_noise"].to(self.fixed_noise.device)


class RidgeStats(nn.Module):
    """Running X'X and X'y as buffers; the weights are a buffer too (nothing is trained by gradient)."""

    def __init__(self, dim: int, outputs: int, ridge: float):
        super().__init__()
        self.ridge = ridge
        self.register_buffer("xtx", torch.zeros(dim + 1, dim + 1, dtype=torch.float64))
        self.register_buffer("xty", torch.zeros(dim + 1, outputs, dtype=torch.float64))
        self.register_buffer("w", torch.zeros(dim + 1, outputs, dtype=torch.float64))

    @staticmethod
    def design(x):
        x = x.reshape(x.shape[0], -1).double()
        return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], 1)

    def forward(self, x):
        return (self.design(x) @ self.w).float()

    @torch.no_grad()
    def absorb(self, x, y):
        a = self.design(x)
        self.xtx += a.T @ a
        self.xty += a.T @ y.double().reshape(len(y), -1)
        eye = torch.eye(len(self.xtx), dtype=self.xtx.dtype, device=self.xtx.device)
        self.w = torch.linalg.solve(self.xtx + self.ridge * eye, self.xty)


class ClosedForm(Task):
    default_monitor = "val/mse"
    automatic_optimization = False

    def __init__(self, ridge: float = 1.0, decay: float = 0.5):
        super().__init__()
        self.ridge, self.decay = ridge, decay

    def metric_directions(self):
        return {"mse": "min", "loss": "min"}

    def setup(self, builder):
        data = builder.data
        dim = int(torch.tensor(data.input_shape).prod())
        self.modules = {"model": RidgeStats(dim, data.num_outputs, self.ridge).to(builder.device)}
        self.slots = {}

    def training_step(self, batch, ctx, metrics):
        x, y = batch
        model = ctx.module()
        if ctx.epoch > 0 and ctx.global_step % ctx.steps_per_epoch == 0:
            model.xtx *= self.decay  # forget part of the past at each epoch start: epochs differ, order matters
            model.xty *= self.decay
        model.absorb(x, y)
        mse = F.mse_loss(model(x), y)
        metrics.add("mse", mse, len(y))
        metrics.add("loss", mse, len(y))
        return {"loss": mse}

    def validation_step(self, batch, ctx, metrics):
        x, y = batch
        mse = F.mse_loss(ctx.module()(x), y)
        metrics.add("mse", mse, len(y))
        metrics.add("loss", mse, len(y))
