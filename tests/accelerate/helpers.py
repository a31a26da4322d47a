"""Training and scoring helpers of the acceleration tests."""

from __future__ import annotations

import torch


def train(model, x, y, epochs: int, lr: float = 3e-3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return {"summary": f"last loss {loss.item():.3f}"}


def accuracy(model, x, y) -> float:
    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())
