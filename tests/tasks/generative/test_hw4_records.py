"""VAE records reproduce the means VAETask.evaluate reports (MeanMetrics over batches of vae_terms), and on any
subset the means of the chosen samples."""

import numpy as np
import pytest
import torch

from nnml import stats
from nnml.engine.metrics import MeanMetrics
from nnml.errors import NnmlError
from nnml.tasks.generative.losses import importance_weighted_nll, vae_terms
from nnml.tasks.generative.records import vae_metrics, vae_records
from nnml.tasks.generative.vae_nets import VAE


@torch.no_grad()
def test_vae_records_reproduce_the_evaluation_means():
    torch.manual_seed(0)
    vae = VAE((1, 6, 6), latent_dim=3, hidden=[16]).eval()
    x = (torch.rand(70, 1, 6, 6) > 0.5).float()
    g = torch.Generator().manual_seed(1)
    metrics, parts = MeanMetrics(), []
    for i in range(0, 70, 32):
        xb = x[i:i + 32]
        t = vae_terms(vae, xb, generator=g)
        iw = importance_weighted_nll(vae, xb, k=4, generator=g)
        n = len(xb)
        for name in ("nelbo", "rec", "kl"):
            metrics.add(name, t[name].mean(), n)
        metrics.add("iw_nll", iw.mean(), n)
        parts.append(vae_records(t, offset=i, iw_nll=iw))
    rec = stats.concat_records(parts)
    want = metrics.compute()
    ours = vae_metrics(rec, beta=0.5)
    # MeanMetrics sums float32 batch means, the records float64 per-sample values: rounding of float32 (~1e-7)
    for name in ("nelbo", "rec", "kl", "iw_nll"):
        assert ours[name] == pytest.approx(want[name], rel=1e-6), name
    assert ours["loss"] == pytest.approx(want["rec"] + 0.5 * want["kl"], rel=1e-6)
    idx = np.random.default_rng(0).integers(0, 70, 70)
    sub = vae_metrics(stats.take(rec, idx))
    assert sub["nelbo"] == pytest.approx(float(np.mean(rec["rec"][idx] + rec["kl"][idx])), rel=1e-6)


def test_vae_records_refuse_terms_of_different_lengths():
    t = {"nelbo": torch.zeros(3), "rec": torch.zeros(3), "kl": torch.zeros(2)}
    with pytest.raises(NnmlError, match="different lengths"):
        vae_records(t)
