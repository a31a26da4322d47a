"""Adagrad: per-coordinate step sizes that shrink with the sum of squared past gradients.

Duchi, Hazan & Singer (2011), "Adaptive Subgradient Methods for Online Learning and Stochastic
Optimization", JMLR 12. Update rule at step t (1-based):

    g <- g + weight_decay * p
    eta_t = lr / (1 + (t - 1) * lr_decay)
    G <- G + g^2                      (G starts at initial_accumulator_value)
    p <- p - eta_t * g / (sqrt(G) + eps)

Rarely-seen features keep large steps; the ever-growing G makes every step size decay towards 0.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class Adagrad(Optimizer):
    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        if lr < 0 or lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError("Adagrad's lr, lr_decay, weight_decay, initial_accumulator_value and eps must be >= 0")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))
        # torch creates the state at construction, so a state_dict saved before the first step is complete
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["step"] = 0
                self.state[p]["sum"] = torch.full_like(p, group["initial_accumulator_value"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] += 1
                g = p.grad
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * p
                lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                state["sum"].addcmul_(g, g)
                p.addcdiv_(g, state["sum"].sqrt().add_(group["eps"]), value=-lr_t)
        return loss
