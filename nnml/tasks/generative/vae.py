"""``task=vae``: a variational autoencoder (Kingma & Welling 2014) trained on the negative ELBO, with beta
(beta-VAE, Higgins et al. 2017), a linear KL warm-up over ``kl_warmup_epochs`` (Bowman et al. 2016: against
posterior collapse), a Bernoulli (pixels in [0, 1]) or Gaussian likelihood and an optional conditional VAE.

Metrics in nats per sample: ``nelbo`` = ``rec`` + ``kl`` (beta = 1, whatever the training weight) on train, val and
test, and on test the importance-weighted estimate of -log p(x) with ``iw_samples`` samples (``iw_nll``, Burda et al.
2016). Evaluation noise comes from a private generator seeded per split, so numbers are repeatable and independent
of the training RNG. Pictures: samples of a fixed noise batch every ``every_n_epochs`` epochs and at the end,
reconstructions next to their inputs, latent interpolations and a scatter of the test latent means by class.
"""

from __future__ import annotations

import torch

from nnml.errors import NnmlError, bad_choice
from nnml.tasks.base import Task
from nnml.tasks.capabilities import KeepsRecords
from nnml.tasks.generative import plots
from nnml.tasks.generative.losses import importance_weighted_nll, vae_terms
from nnml.tasks.generative.records import vae_records
from nnml.tasks.generative.sampling import (
    eval_mode,
    fixed_grid_inputs,
    private_generator,
    require_labels,
    sample_inputs,
    train_inputs_only,
)
from nnml.tasks.generative.vae_nets import LIKELIHOODS


class VAETask(KeepsRecords, Task):
    uses_loss_config = False  # its own objective: a typed loss=... would be ignored
    default_monitor = "val/nelbo"

    def __init__(self, likelihood: str = "bernoulli", beta: float = 1.0, kl_warmup_epochs: float = 10,
                 conditional: bool = False, iw_samples: int = 256, every_n_epochs: int = 10,
                 grid_samples: int = 64):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise bad_choice("task.likelihood", likelihood, LIKELIHOODS)
        if float(beta) < 0:
            raise NnmlError(f"task.beta={beta} is not valid; it must be at least 0")
        if int(iw_samples) < 1:
            raise NnmlError(f"task.iw_samples={iw_samples} is not valid; it must be at least 1")
        self.likelihood = likelihood
        self.beta = float(beta)
        self.kl_warmup_epochs = float(kl_warmup_epochs)
        self.conditional = bool(conditional)
        self.iw_samples = int(iw_samples)
        self.every_n_epochs = int(every_n_epochs)
        self.grid_samples = int(grid_samples)

    def check_facts(self, facts: dict, dataset: dict) -> tuple[str, list[str]] | None:
        """Before a run, from the dataset's config and facts (nnml/cli/checks/fit.py): (the message, overrides
        that fix it) when a Bernoulli likelihood meets data outside [0, 1], else None."""
        if self.likelihood != "bernoulli" or dataset.get("standardize") == "unit":
            return None
        return self._range_message(str(dataset.get("_target_", "?")).rsplit(".", 1)[-1], "standardize" in dataset)

    @staticmethod
    def _range_message(name: str, can_unit: bool) -> tuple[str, list[str]]:
        fixes = (["dataset.standardize=unit"] if can_unit else []) + ["task.likelihood=gaussian"]
        how = "set dataset.standardize=unit, or use task.likelihood=gaussian" if can_unit else \
            "use task.likelihood=gaussian (its values are not in [0, 1])"
        return f"task.likelihood=bernoulli needs values in [0, 1]; dataset {name} is not: {how}", fixes

    def setup(self, builder) -> None:
        data = builder.data
        if self.likelihood == "bernoulli" and data.meta.get("value_range") != [0.0, 1.0]:
            can_unit = "standardize" in (builder.cfg.get("dataset") or {})
            raise NnmlError(self._range_message(data.name, can_unit)[0])
        require_labels(self.conditional, data)
        self.data = data
        self.seed = int(builder.seed)
        self.num_classes = int(data.num_outputs)
        model = builder.model(conditional=self.conditional, likelihood=self.likelihood)
        if not hasattr(model, "encode"):
            raise NnmlError("task=vae needs a VAE model; choose model=vae_mlp or model=vae_conv")
        self.modules = {"model": model}
        self.slots = {"model": builder.optimizer(model.parameters())}
        self.latent_dim = int(model.latent_dim)
        self.fixed_z, self.fixed_y = fixed_grid_inputs(self.seed, self.grid_samples, self.latent_dim,
                                                       self.num_classes, builder.device)

    def objective(self) -> str:
        return f"-ELBO ({self.likelihood} likelihood, beta {self.beta:g})"

    def metric_directions(self) -> dict[str, str]:
        return {"loss": "min", "nelbo": "min", "rec": "min", "kl": "max", "kl_weight": "max", "iw_nll": "min"}

    # ------------------------------------------------------------------ steps
    def kl_weight(self, ctx) -> float:
        if self.kl_warmup_epochs <= 0:
            return self.beta
        progress = ctx.global_step / max(1, ctx.steps_per_epoch)  # in epochs, fractional
        return self.beta * min(1.0, (progress + 1 / max(1, ctx.steps_per_epoch)) / self.kl_warmup_epochs)

    def batches(self, split: str, builder):
        return train_inputs_only(self, split, builder) or super().batches(split, builder)

    def training_step(self, batch, ctx, metrics):
        x = batch[0]
        model = ctx.forward("model")
        w = self.kl_weight(ctx)
        with ctx.autocast():
            t = vae_terms(model, x, batch[1] if self.conditional else None)
            loss = (t["rec"] + w * t["kl"]).mean()
        n = len(x)
        metrics.add("loss", loss, n)
        # the per-sample values: their means are taken when the metrics fold (three ops a step less)
        metrics.add("nelbo", t["nelbo"], n)
        metrics.add("rec", t["rec"], n)
        metrics.add("kl", t["kl"], n)
        metrics.add("kl_weight", w, n)
        return loss

    def evaluate(self, split: str, ctx) -> dict[str, float]:
        model = self.modules["model"]
        metrics = self.eval_metrics(split)
        g = private_generator(self.device, self.seed * 1000 + {"train": 1, "val": 2, "test": 3}[split])
        with eval_mode(model), self.evaluation_records(split, ctx):
            for batch in ctx.batches(split):
                x, y = batch[0], batch[1]
                yc = y if self.conditional else None
                t = vae_terms(model, x, yc, generator=g)
                n = len(x)
                metrics.add("nelbo", t["nelbo"].mean(), n)
                metrics.add("rec", t["rec"].mean(), n)
                metrics.add("kl", t["kl"].mean(), n)
                iw = None
                if split == "test":
                    iw = importance_weighted_nll(model, x, yc, k=self.iw_samples, generator=g)
                    metrics.add("iw_nll", iw.mean(), n)
                if self.recording:
                    self.keep_records(ctx, vae_records(t, iw_nll=iw))
        ctx.all_reduce(metrics)
        out = metrics.compute()
        out["loss"] = out["rec"] + self.beta * out["kl"]
        return out

    def records_spec(self, split: str) -> dict:
        return {"kind": "vae", "beta": float(self.beta)}

    # ------------------------------------------------------------------ sampling and pictures
    def sample(self, n: int, label: int | None = None, seed: int = 0, z=None, y=None) -> torch.Tensor:
        model = self.modules["model"]
        dev = self.device
        z, y = sample_inputs(n, self.latent_dim, seed, dev, conditional=self.conditional,
                             num_classes=self.num_classes, label=label, z=z, y=y)
        with eval_mode(model):
            return model.mean(model.decode(z, y)).float()

    @property
    def value_range(self):
        return self.data.meta.get("value_range")

    def _grid(self, x, nrow=None):
        return plots.image_grid(x, nrow=nrow, value_range=self.value_range)

    def _samples_picture(self, tag: str) -> dict:
        if self.data.task == "points2d":
            fake = self.sample(2000, seed=self.seed + 5)
            return {"figures": {tag: plots.density_figure(self.data.x_val, fake, self.data.meta.get("modes"),
                                                          self.data.meta.get("mode_std"), title=tag)}}
        imgs = self.sample(0, z=self.fixed_z, y=self.fixed_y if self.conditional else None)
        return {"images": {tag: self._grid(imgs, self.num_classes if self.conditional else None)}}

    def epoch_artifacts(self, epoch: int, ctx) -> dict:
        if self.every_n_epochs <= 0 or epoch % self.every_n_epochs:
            return {}
        return self._samples_picture("samples")

    def final_artifacts(self, ctx) -> dict:
        model = self.modules["model"]
        out = self._samples_picture("final_samples")
        x, y = self.data.x_test.to(self.device), self.data.y_test.to(self.device)
        yc = y if self.conditional else None
        with eval_mode(model):
            mu, _ = model.encode(x, yc)
            recon = model.mean(model.decode(mu, yc))
        out.setdefault("figures", {})["latent_scatter"] = plots.latent_scatter(mu, y, self.data.class_names)
        if self.data.task != "points2d":
            k = min(32, len(x))
            pairs = torch.stack([x[:k], recon[:k]], 1).reshape(2 * k, *x.shape[1:])  # input, reconstruction
            out.setdefault("images", {})["reconstructions"] = self._grid(pairs, nrow=16)
            rows, steps = 8, 10
            a, b = mu[:rows].unsqueeze(1), mu[rows : 2 * rows].unsqueeze(1)
            t = torch.linspace(0, 1, steps, device=self.device).view(1, steps, 1)
            z = (a * (1 - t) + b * t).reshape(-1, self.latent_dim)
            yi = yc[:rows].repeat_interleave(steps) if self.conditional else None
            out["images"]["interpolations"] = self._grid(self.sample(0, z=z, y=yi), nrow=steps)
        return out

    def extra_metrics(self) -> dict:
        """Where the final sample grid is (``nnml compare --metric figures/samples``)."""
        return {"figures/samples": "figures/final_samples.png"}

    def state_dict(self) -> dict:
        return {"fixed_z": self.fixed_z.detach().cpu(), "fixed_y": self.fixed_y.detach().cpu()}

    def load_state_dict(self, state: dict) -> None:
        if "fixed_z" in state:
            self.fixed_z = state["fixed_z"].to(self.fixed_z.device)
            self.fixed_y = state["fixed_y"].to(self.fixed_y.device)
