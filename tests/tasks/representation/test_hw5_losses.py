"""Self-supervised losses: NT-Xent against pytorch-metric-learning, SimSiam's stop-gradient, VICReg's terms."""

import pytest
import torch
import torch.nn.functional as F

from nnml.tasks.representation.losses import nt_xent, simsiam_loss, vicreg_loss, vicreg_terms


@pytest.mark.parametrize("temperature", [0.07, 0.1, 0.5])
def test_nt_xent_equals_pytorch_metric_learning(temperature):
    from pytorch_metric_learning.losses import NTXentLoss, SelfSupervisedLoss

    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(32, 16, generator=g), torch.randn(32, 16, generator=g)
    z2 = z2 + 2 * z1  # views that agree somewhat, so the loss is not at its random value
    ref = SelfSupervisedLoss(NTXentLoss(temperature=temperature))(z1, z2)
    assert nt_xent(z1, z2, temperature).item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)


def test_nt_xent_gradients_equal_pytorch_metric_learning():
    from pytorch_metric_learning.losses import NTXentLoss, SelfSupervisedLoss

    g = torch.Generator().manual_seed(1)
    a = torch.randn(8, 5, generator=g, dtype=torch.float64)
    b = torch.randn(8, 5, generator=g, dtype=torch.float64)
    grads = []
    for fn in (lambda x, y: nt_xent(x, y, 0.2), SelfSupervisedLoss(NTXentLoss(temperature=0.2))):
        x, y = a.clone().float().requires_grad_(), b.clone().float().requires_grad_()
        fn(x, y).backward()
        grads.append(torch.cat([x.grad, y.grad]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_nt_xent_closed_form_for_identical_orthogonal_views():
    # Two identical views of N orthonormal vectors: positive similarity 1, the 2N-2 negatives 0.
    n, t = 4, 0.5
    z = torch.eye(n)
    expected = -torch.log(torch.exp(torch.tensor(1 / t)) / (torch.exp(torch.tensor(1 / t)) + 2 * n - 2))
    assert nt_xent(z, z, t).item() == pytest.approx(expected.item(), rel=1e-6)


def test_simsiam_stops_the_gradient_of_the_projections():
    p1, p2 = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    z1, z2 = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    loss = simsiam_loss(p1, p2, z1, z2)
    loss.backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad is not None and p1.grad.abs().sum() > 0
    assert simsiam_loss(z1, z1, z1, z1).item() == pytest.approx(-1.0, abs=1e-6)


def test_vicreg_terms_closed_forms():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4096, 3, generator=g) * 2.0  # std 2 > 1: no variance penalty, covariances ~0
    t = vicreg_terms(z, z)
    assert t["invariance"].item() == 0.0
    assert t["variance"].item() == 0.0
    assert t["covariance"].item() < 0.05  # sampling noise of 4096 rows
    # Collapsed views: every dimension has std ~0, the variance hinge is ~1 per view (halved, summed).
    c = torch.ones(64, 3)
    assert vicreg_terms(c, c)["variance"].item() == pytest.approx(1.0, abs=0.02)
    total, _ = vicreg_loss(c, c + 1)
    assert total.item() == pytest.approx(25 * 1.0 + 25 * vicreg_terms(c, c)["variance"].item(), rel=1e-5)
    # The covariance term against numpy on correlated features.
    x = torch.randn(256, 4, generator=g, dtype=torch.float64)
    x[:, 1] += x[:, 0]
    import numpy as np

    cov = np.cov(x.numpy(), rowvar=False)
    off = (cov**2).sum() - (np.diag(cov) ** 2).sum()
    assert vicreg_terms(x, x)["covariance"].item() == pytest.approx(2 * off / 4, rel=1e-9)
    assert F.mse_loss(x, x).item() == 0.0
