"""RMSprop: divide each step by a running root-mean-square of recent gradients.

Tieleman & Hinton (2012), Coursera "Neural Networks for Machine Learning", lecture 6.5; the
centered variant is from Graves (2013), "Generating Sequences With Recurrent Neural Networks".
Update rule (alpha: smoothing constant):

    g <- g + weight_decay * p
    v <- alpha * v + (1 - alpha) * g^2
    centered:  m <- alpha * m + (1 - alpha) * g ;  s = sqrt(v - m^2) + eps
    otherwise: s = sqrt(v) + eps
    momentum > 0:  b <- momentum * b + g / s ;  p <- p - lr * b
    otherwise:     p <- p - lr * g / s

Unlike Adagrad, v forgets old gradients, so the step size does not decay to zero.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum < 0 or not 0 <= alpha <= 1:
            raise ValueError("RMSprop needs lr, eps, weight_decay, momentum >= 0 and 0 <= alpha <= 1")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            alpha = group["alpha"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(p)
                    if group["momentum"] > 0:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(p)
                state["step"] += 1
                g = p.grad
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * p
                v = state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)
                if group["centered"]:
                    m = state["grad_avg"].mul_(alpha).add_(g, alpha=1 - alpha)
                    s = (v - m * m).sqrt_().add_(group["eps"])
                else:
                    s = v.sqrt().add_(group["eps"])
                if group["momentum"] > 0:
                    b = state["momentum_buffer"].mul_(group["momentum"]).addcdiv_(g, s)
                    p.add_(b, alpha=-group["lr"])
                else:
                    p.addcdiv_(g, s, value=-group["lr"])
        return loss
