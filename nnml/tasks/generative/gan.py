"""``task=gan``: a generator and a discriminator trained in alternation, each with its own optimizer, scheduler and
gradient clipping (``optimizer.generator`` / ``optimizer.discriminator``, the same for ``scheduler``).

Per batch: one discriminator (critic) step on real and generated samples, and every ``n_critic``-th batch one
generator step; then the generator's exponential moving average (``ema_decay`` > 0) is updated. Losses: ``ns``
(non-saturating), ``wgan_gp`` (with ``gp_weight``) and ``hinge``; ``conditional`` feeds the class labels to both.

Evaluation draws ``fd_samples`` samples (the EMA generator's when there is one) with noise from a private
generator seeded per split, so the numbers do not depend on the training RNG and epochs are compared on the same
noise: the Frechet distance to the split's real data in the feature space of ``feature_net``
(``nnml.tasks.generative.features``; on 2-D points the points themselves), the class histogram of the samples and, on
2-D mixtures, modes covered and the share of high quality samples. The best checkpoint is the one of the lowest
``val/fd``. Sample grids of a fixed noise batch (kept in checkpoints, so a resumed run shows the same grid) are drawn
every ``every_n_epochs`` epochs and at the end.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nnml.errors import NnmlError, bad_choice
from nnml.tasks.base import Task
from nnml.tasks.generative import plots
from nnml.tasks.generative.ema import ema_copy, ema_update
from nnml.tasks.generative.frechet import class_histogram, frechet_distance, histogram_summary
from nnml.tasks.generative.losses import GAN_LOSSES, discriminator_loss, generator_loss, gradient_penalty
from nnml.tasks.generative.sampling import (
    balanced_labels,
    eval_mode,
    fixed_grid_inputs,
    private_generator,
    require_labels,
    sample_inputs,
    train_inputs_only,
)
from nnml.tasks.generative.toy_measures import mode_measures

NETS = ("generator", "discriminator")


def per_network(node, name: str):
    """The ``name`` entry of a config node that has one per network (``optimizer.generator``), or the node itself
    when it is shared (``optimizer=adam`` for both)."""
    if node is None:
        return None
    if hasattr(node, "keys") and set(NETS) <= set(node.keys()):
        return node[name]
    return node


class GANTask(Task):
    uses_loss_config = False  # its own objective: a typed loss=... would be ignored
    automatic_optimization = False
    default_monitor = "val/fd"

    def __init__(self, loss: str = "ns", n_critic: int = 1, gp_weight: float = 10.0, conditional: bool = False,
                 ema_decay: float = 0.0, fd_samples: int = 1000, feature_net: str = "auto",
                 every_n_epochs: int = 5, grid_samples: int = 64, grad_clip=None):
        super().__init__()
        if loss not in GAN_LOSSES:
            raise bad_choice("task.loss", loss, GAN_LOSSES)
        if int(n_critic) < 1:
            raise NnmlError(f"task.n_critic={n_critic} is not valid; it must be at least 1")
        if not 0.0 <= float(ema_decay) < 1.0:
            raise NnmlError(f"task.ema_decay={ema_decay} is not valid; choose 0 (off) or a decay in (0, 1), e.g. 0.99")
        if int(fd_samples) < 2:
            raise NnmlError(f"task.fd_samples={fd_samples} is not valid; the Frechet distance needs at least 2")
        self.loss = loss
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.conditional = bool(conditional)
        self.ema_decay = float(ema_decay)
        self.fd_samples = int(fd_samples)
        self.feature_net_spec = str(feature_net)
        self.every_n_epochs = int(every_n_epochs)
        self.grid_samples = int(grid_samples)
        self.grad_clip = grad_clip or {}

    @property
    def primary(self) -> str:
        # The module the run header summarises with a data batch: the discriminator is the one that takes data.
        return "discriminator"

    # ------------------------------------------------------------------ building
    def setup(self, builder) -> None:
        from omegaconf import OmegaConf

        cfg, data = builder.cfg, builder.data
        model_cfg = cfg.model
        if not (hasattr(model_cfg, "keys") and set(NETS) <= set(model_cfg.keys())):
            raise NnmlError("task=gan needs a model config with generator and discriminator nodes; choose "
                            "model=gan_mlp or model=gan_dcgan")
        require_labels(self.conditional, data)
        self.data = data
        self.seed = int(builder.seed)
        self.num_classes = int(data.num_outputs)
        self.value_range = data.meta.get("value_range")
        extra = {"conditional": self.conditional}
        gen = builder.model(model_cfg.generator, **extra)
        disc = builder.model(model_cfg.discriminator, **extra)
        self.modules = {"generator": gen, "discriminator": disc}
        if self.ema_decay:
            self.modules["generator_ema"] = ema_copy(gen)
        clips = dict(self.grad_clip) if hasattr(self.grad_clip, "keys") else {n: self.grad_clip for n in NETS}
        default_clip = cfg.trainer.get("grad_clip")
        for name in NETS:
            clip = clips.get(name, None)
            self.slots[name] = builder.optimizer(
                self.modules[name].parameters(), node=per_network(cfg.optimizer, name),
                scheduler=per_network(cfg.get("scheduler"), name),
                grad_clip=default_clip if clip is None else clip)
        self.latent_dim = int(gen.latent_dim)
        device = builder.device
        # The fixed noise of the sample grids, saved in checkpoints.
        self.fixed_z, self.fixed_y = fixed_grid_inputs(self.seed, self.grid_samples, self.latent_dim,
                                                       self.num_classes, device)
        self._dataset_cfg = OmegaConf.to_container(cfg.dataset, resolve=True)
        self._allow = list(builder.trust.prefixes)  # a feature_net run folder may name only what this command trusts
        self._features_net = None  # built on first use: nnml sample never needs it
        if not builder.evaluating and Path(self.feature_net_spec).expanduser().is_dir():
            # ... but a run folder named as the feature network is built now (a checkpoint load, cheap): a refused
            # one (the trust rule, a hostile checkpoint, a model it cannot rebuild) stops the run before training,
            # not after its first epoch.
            self.features  # noqa: B018
        self._real_stats = {}

    @property
    def features(self):
        """The feature network of the Frechet distance (``nnml.tasks.generative.features``), frozen, on the device."""
        if self._features_net is None:
            self._features_net = builder_feature_net(self.feature_net_spec, self.data, self._dataset_cfg,
                                                     self.seed, self._allow).to(self.device)
        return self._features_net

    # ------------------------------------------------------------------ metrics
    def objective(self) -> str:
        names = {"ns": "non-saturating", "hinge": "hinge", "wgan_gp": "WGAN-GP"}
        return f"{names.get(self.loss, self.loss)} GAN loss" + (f", {self.n_critic} critic steps" if self.n_critic > 1 else "")

    def metric_directions(self) -> dict[str, str]:
        d = {"fd": "min", "d_loss": "min", "g_loss": "min", "gp": "min", "d_real": "max", "d_fake": "min",
             "feature_acc": "max", "fd_floor": "min", "fd_noise": "min"}
        if self.data.task == "points2d" and "modes" in self.data.meta:
            d.update({"modes_covered": "max", "high_quality": "max", "mode_kl": "min"})
        elif self.data.task == "classification":
            d.update({"classes_covered": "max", "class_kl": "min"})
        return d

    # ------------------------------------------------------------------ steps
    def batches(self, split: str, builder):
        return train_inputs_only(self, split, builder) or super().batches(split, builder)

    def training_step(self, batch, ctx, metrics):
        x = batch[0]
        yc = batch[1] if self.conditional else None
        gen, disc = ctx.forward("generator"), ctx.forward("discriminator")
        n = len(x)
        z = torch.randn(n, self.latent_dim, device=x.device)
        with ctx.autocast():
            fake = gen(z, yc).detach()
            real_score, fake_score = disc(x, yc), disc(fake, yc)
            d_loss = discriminator_loss(self.loss, real_score, fake_score)
            if self.loss == "wgan_gp":
                gp = gradient_penalty(disc, x, fake, yc)
                d_loss = d_loss + self.gp_weight * gp
                metrics.add("gp", gp, n)
        ctx.optimize(d_loss, "discriminator")
        metrics.add("d_loss", d_loss, n)
        metrics.add("d_real", real_score.detach().mean(), n)  # off the graph: no backward nodes for metrics
        metrics.add("d_fake", fake_score.detach().mean(), n)
        out = {"loss": d_loss.detach()}
        # The loop's global_step counts batches; a generator step follows every n_critic-th discriminator step.
        if (ctx.global_step + 1) % self.n_critic == 0:
            z = torch.randn(n, self.latent_dim, device=x.device)
            with ctx.autocast():
                g_loss = generator_loss(self.loss, disc(gen(z, yc), yc))
            ctx.optimize(g_loss, "generator")
            metrics.add("g_loss", g_loss, n)
            out["g_loss"] = g_loss.detach()
            if self.ema_decay:
                ema_update(self.modules["generator_ema"], self.modules["generator"], self.ema_decay)
        return out

    # ------------------------------------------------------------------ sampling
    def sampler(self):
        return self.modules.get("generator_ema") or self.modules["generator"]

    def sample(self, n: int, label: int | None = None, seed: int = 0, z: torch.Tensor | None = None,
               y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples (or one per row of ``z``) from the EMA generator if there is one, with noise from a
        private generator; ``label`` fixes the class of a conditional model."""
        g = self.sampler()
        dev = self.device
        z, y = sample_inputs(n, self.latent_dim, seed, dev, conditional=self.conditional,
                             num_classes=self.num_classes, label=label, z=z, y=y)
        out = []
        with eval_mode(g):
            for i in range(0, len(z), 1024):
                out.append(g(z[i : i + 1024], None if y is None else y[i : i + 1024]).float())
        return torch.cat(out)

    @property
    def classifies(self) -> bool:
        """The feature net is a classifier of the data's classes: its outputs' argmax is a class, so the samples
        have a class histogram. ``task.feature_net=identity`` on labelled data measures distances on the pixels
        alone (an argmax over pixels is no class)."""
        return self.data.task == "classification" and self.features.source != "identity"

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat([self.features(x[i : i + 1024]) for i in range(0, len(x), 1024)])

    def _real(self, split: str):
        if split not in self._real_stats:
            x = self.data.split(split)[0].to(self.device)
            self._real_stats[split] = self._features(x)
        return self._real_stats[split]

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, split: str, ctx) -> dict[str, float]:
        seed = self.seed * 1000 + {"train": 1, "val": 2, "test": 3}[split]
        fake = self.sample(self.fd_samples, seed=seed)
        feats = self._features(fake)
        real = self._real(split)
        out = {"fd": frechet_distance(feats, real)}
        meta = self.data.meta
        if self.data.task == "points2d" and "modes" in meta:
            out.update(mode_measures(fake, meta["modes"], meta["mode_std"]))
        elif self.classifies:
            out.update(histogram_summary(class_histogram(feats, self.num_classes)))
        if split == "test":
            # The scale of the distance in this feature space: real train data against real test data (the
            # floor) and uniform noise over the data's range (a bad generator).
            out["fd_floor"] = frechet_distance(self._real("train"), real)
            lo, hi = (self.value_range or [float(real.min()), float(real.max())])
            if self.data.task != "points2d":
                x = self.data.x_test
                noise = torch.rand(self.fd_samples, *x.shape[1:], generator=private_generator("cpu", seed))
                xs = self.data.x_train
                noise = xs.min() + (xs.max() - xs.min()) * noise if self.value_range is None else lo + (hi - lo) * noise
                out["fd_noise"] = frechet_distance(self._features(noise.to(self.device)), real)
            if not torch.isnan(torch.tensor(self.features.test_acc)):
                out["feature_acc"] = float(self.features.test_acc)
        return out

    # ------------------------------------------------------------------ artifacts
    def _pictures(self, tag: str) -> dict:
        if self.data.task == "points2d":
            fake = self.sample(2000, seed=self.seed + 5)
            fig = plots.density_figure(self.data.x_val, fake, self.data.meta.get("modes"),
                                       self.data.meta.get("mode_std"), title=tag)
            return {"figures": {tag: fig}}
        imgs = self.sample(0, z=self.fixed_z, y=self.fixed_y if self.conditional else None)
        nrow = self.num_classes if self.conditional else None
        return {"images": {tag: plots.image_grid(imgs, nrow=nrow, value_range=self.value_range)}}

    def epoch_artifacts(self, epoch: int, ctx) -> dict:
        if self.every_n_epochs <= 0 or epoch % self.every_n_epochs:
            return {}
        return self._pictures("samples")

    def final_artifacts(self, ctx) -> dict:
        out = self._pictures("final_samples")
        if self.classifies:
            fake = self.sample(self.fd_samples, seed=self.seed * 1000 + 3)
            hist = class_histogram(self._features(fake), self.num_classes)
            out.setdefault("figures", {})["class_histogram"] = plots.histogram_figure(hist, self.data.class_names)
        if self.data.task != "points2d":
            out.setdefault("images", {})["interpolations"] = self._interpolations()
        text = (f"Frechet distance features: {self.features.source} "
                f"(test accuracy {self.features.test_acc:.4f})")
        out["text"] = {"feature_net": text}
        return out

    def _interpolations(self, rows: int = 8, steps: int = 10) -> torch.Tensor:
        g = private_generator(self.device, self.seed + 9)
        a = torch.randn(rows, 1, self.latent_dim, generator=g, device=self.device)
        b = torch.randn(rows, 1, self.latent_dim, generator=g, device=self.device)
        t = torch.linspace(0, 1, steps, device=self.device).view(1, steps, 1)
        z = (a * (1 - t) + b * t).reshape(rows * steps, self.latent_dim)
        y = None
        if self.conditional:
            y = balanced_labels(rows, self.num_classes, self.device).repeat_interleave(steps)
        return plots.image_grid(self.sample(0, z=z, y=y), nrow=steps, value_range=self.value_range)

    # ------------------------------------------------------------------ state
    def extra_metrics(self) -> dict:
        """Where the final sample grid is (``nnml compare --metric figures/samples``) and which features measured fd."""
        name = "final_samples.png"
        return {"figures/samples": f"figures/{name}", "feature_net": self.features.source}

    def state_dict(self) -> dict:
        return {"fixed_z": self.fixed_z.detach().cpu(), "fixed_y": self.fixed_y.detach().cpu()}

    def load_state_dict(self, state: dict) -> None:
        if "fixed_z" in state:
            self.fixed_z = state["fixed_z"].to(self.fixed_z.device)
            self.fixed_y = state["fixed_y"].to(self.fixed_y.device)


def builder_feature_net(spec, data, dataset_cfg, seed, allow=()):
    import logging

    from nnml.tasks.generative.features import build_feature_net

    return build_feature_net(spec, data, dataset_cfg, seed, log=logging.getLogger("nnml").info, allow=allow)
