"""Stochastic gradient descent, with optional (Nesterov) momentum and L2 weight decay.

Update rule for each parameter p with gradient g (lr = eta, momentum = mu, dampening = tau):

    g <- g + weight_decay * p                         (L2 penalty folded into the gradient)
    b <- g                    on the first step,
    b <- mu * b + (1 - tau) * g  afterwards           (heavy ball: Polyak, 1964)
    d <- g + mu * b  if nesterov else  b              (Nesterov, 1983, in the form of
                                                       Sutskever et al., 2013)
    p <- p - eta * d

With momentum = 0 it is plain SGD (Robbins & Monro, 1951): p <- p - eta * g.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            mu, tau = group["momentum"], group["dampening"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * p
                if mu:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()
                    else:
                        state["momentum_buffer"].mul_(mu).add_(g, alpha=1 - tau)
                    b = state["momentum_buffer"]
                    g = g + mu * b if group["nesterov"] else b
                p.add_(g, alpha=-group["lr"])
        return loss
