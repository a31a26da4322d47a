"""The pretraining tasks' losses on a stub context: autoencoder kinds, contrastive methods, bad keys."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnml.errors import NnmlError
from nnml.tasks.representation.autoencoder import AutoencoderTask
from nnml.tasks.representation.contrastive import ContrastiveTask, mlp


class Ctx:
    def __init__(self, task):
        self.task = task

    def forward(self, name):
        return self.task.modules[name]


def _ae(kind, **kw):
    task = AutoencoderTask(kind=kind, **kw)
    torch.manual_seed(0)
    task.modules = {"encoder": nn.Sequential(nn.Flatten(), nn.Linear(6, 3), nn.ReLU()),
                    "decoder": nn.Linear(3, 6)}
    return task


def test_autoencoder_kinds():
    x = torch.randn(10, 6)
    plain = _ae("plain")
    loss, terms = plain.ssl_loss(x, Ctx(plain), True)
    code = plain.modules["encoder"](x)
    assert loss.item() == pytest.approx(F.mse_loss(plain.modules["decoder"](code), x).item())
    assert terms["code_l1"].item() == pytest.approx(code.abs().mean().item())
    sparse = _ae("sparse", sparsity=0.5)
    loss_s, terms_s = sparse.ssl_loss(x, Ctx(sparse), True)
    assert loss_s.item() == pytest.approx(terms_s["recon"].item() + 0.5 * terms_s["code_l1"].item())
    noisy = _ae("denoising", noise=0.0, mask=0.5)
    torch.manual_seed(1)
    corrupted = noisy.corrupt(x)
    assert ((corrupted == 0) | (corrupted == x)).all() and (corrupted == 0).any()
    # the target stays the clean input
    torch.manual_seed(2)
    loss_d, terms_d = noisy.ssl_loss(x, Ctx(noisy), True)
    torch.manual_seed(2)
    code = noisy.modules["encoder"](noisy.corrupt(x))
    assert loss_d.item() == pytest.approx(F.mse_loss(noisy.modules["decoder"](code), x).item())


@pytest.mark.parametrize("method", ["simclr", "simsiam", "vicreg"])
def test_contrastive_methods_give_finite_losses_and_gradients(method):
    from nnml.tasks.representation.views import Views

    task = ContrastiveTask(method=method, projection_hidden=8, projection_dim=4, predictor_hidden=2)
    task.views = Views("tabular", {"noise": 0.1, "mask": 0.2})
    torch.manual_seed(0)
    task.modules = {"encoder": nn.Sequential(nn.Linear(5, 6), nn.ReLU()), **task.build_heads(None, 6)}
    loss, terms = task.ssl_loss(torch.randn(16, 5), Ctx(task), True)
    loss.backward()
    assert torch.isfinite(loss)
    assert task.modules["encoder"][0].weight.grad.abs().sum() > 0
    assert set(terms) == ({"invariance", "variance", "covariance"} if method == "vicreg" else set())
    assert ("predictor" in task.modules) == (method == "simsiam")


def test_projection_mlp_shapes_and_batch_norm():
    head = mlp([6, 8, 4], batch_norm=True, last_bn=True)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d"]
    assert head[0].bias is None and head(torch.randn(3, 6)).shape == (3, 4)


def test_bad_task_keys():
    with pytest.raises(NnmlError, match="task.method=byol is not valid"):
        ContrastiveTask(method="byol")
    with pytest.raises(NnmlError, match="task.temperature=0"):
        ContrastiveTask(temperature=0)
    with pytest.raises(NnmlError, match="task.kind=vae is not valid"):
        AutoencoderTask(kind="vae")
    with pytest.raises(NnmlError, match="task.kind=denoising needs a corruption"):
        AutoencoderTask(kind="denoising", noise=0, mask=0)
    with pytest.raises(NnmlError, match="task.probe.every is not a key of task.probe"):
        AutoencoderTask(probe={"every": 3})
    with pytest.raises(NnmlError, match="task.embeddings.plot=umap is not valid"):
        ContrastiveTask(embeddings={"plot": "umap"})
