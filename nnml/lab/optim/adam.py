"""Adam: momentum on the gradient and RMSprop's scaling, both bias-corrected.

Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", ICLR, Algorithm 1; the amsgrad
option is from Reddi, Kale & Kumar (2018), "On the Convergence of Adam and Beyond". At step t:

    g <- g + weight_decay * p                    (L2 penalty: scaled by the adaptive step too)
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    amsgrad: v_max <- max(v_max, v), used in place of v below
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
    p <- p - lr * m_hat / (sqrt(v_hat) + eps)

The corrections undo the bias of m and v towards their zero start in the first steps.
"""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer


class Adam(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError("Adam needs lr, eps, weight_decay >= 0 and betas in [0, 1)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _decay(self, p, g, group):
        """Adam folds weight decay into the gradient (L2 regularisation); AdamW overrides this."""
        return g + group["weight_decay"] * p if group["weight_decay"] else g

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                g = self._decay(p, p.grad, group)
                m = state["exp_avg"].mul_(beta1).add_(g, alpha=1 - beta1)
                v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if group["amsgrad"]:
                    v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                # lr * m_hat / (sqrt(v_hat) + eps), with the two corrections moved out of the tensors
                denom = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])
                p.addcdiv_(m, denom, value=-group["lr"] / (1 - beta1**t))
        return loss
