"""The distillation loss against its closed forms: the KL sum written out, and its gradient T (p_s - p_t) / N."""

from __future__ import annotations

import pytest
import torch

from nnml.errors import NnmlError
from nnml.tasks.distill.task import DistillTask, distillation_loss


def test_loss_is_t2_times_the_kl_written_out():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 10, generator=g, dtype=torch.float64), torch.randn(5, 10, generator=g, dtype=torch.float64)
    T = 3.0
    ps, pt = torch.softmax(s / T, 1), torch.softmax(t / T, 1)
    kl = (pt * (pt.log() - ps.log())).sum(1).mean()
    assert torch.allclose(distillation_loss(s, t, T), T * T * kl)
    assert float(distillation_loss(t + 7.0, t, T)) == pytest.approx(0.0, abs=1e-12)  # softmax ignores a shift


def test_gradient_is_t_times_the_probability_gap():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(4, 6, generator=g, dtype=torch.float64)
    T = 4.0
    distillation_loss(s, t, T).backward()
    expected = T * (torch.softmax(s.detach() / T, 1) - torch.softmax(t / T, 1)) / 4
    assert torch.allclose(s.grad, expected)


@pytest.mark.parametrize("kwargs,match", [({}, "task.teacher=null"), ({"teacher": "x", "temperature": 0},
                                           "task.temperature=0"), ({"teacher": "x", "alpha": 1.5}, "task.alpha=1.5")])
def test_bad_keys_are_refused_in_one_line(kwargs, match):
    with pytest.raises(NnmlError, match=match):
        DistillTask(**kwargs)
