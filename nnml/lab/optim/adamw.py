"""AdamW: Adam with weight decay decoupled from the adaptive gradient step.

Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", ICLR, Algorithm 2. At step t:

    p <- p - lr * weight_decay * p               (decay every weight by the same factor)
    then Adam's step with the raw gradient g (no L2 term added to g)

With Adam's L2 term, weights with large gradient history get their decay divided by sqrt(v_hat)
and are hardly regularised; decoupling makes weight decay act as intended. Default decay 0.01.
"""

from __future__ import annotations

from nnml.lab.optim.adam import Adam


class AdamW(Adam):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def _decay(self, p, g, group):
        p.mul_(1 - group["lr"] * group["weight_decay"])
        return g
