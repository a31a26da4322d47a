"""Metrics by task, computed on the device from accumulated sums so the loop never waits for them.

Classification: accuracy and macro F1; regression: MSE, MAE and R^2. The formulas are the textbook ones; the
tests check them against torchmetrics and scikit-learn (torchmetrics itself costs ~3 s of import per process).
"""

from __future__ import annotations

import torch


class MetricState:
    """Running sums for one pass over a split; ``compute()`` reads them (one host sync)."""

    def __init__(self, task: str, num_outputs: int, device):
        self.task = task
        self.k = num_outputs
        self.device = device
        self.reset()

    def reset(self) -> None:
        z = lambda *s: torch.zeros(*s, device=self.device, dtype=torch.float64)  # noqa: E731
        self.n = z(())
        self.loss_sum = z(())
        if self.task == "classification":
            self.confusion = torch.zeros(self.k, self.k, device=self.device, dtype=torch.long)
        else:
            self.sq = z(self.k)
            self.abs = z(self.k)
            self.y_sum = z(self.k)
            self.y_sq = z(self.k)

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, targets: torch.Tensor, loss: torch.Tensor) -> None:
        n = targets.shape[0]
        self.n += n
        self.loss_sum += loss.detach().double() * n
        if self.task == "classification":
            pred = outputs.argmax(1)
            self.confusion += torch.bincount(targets * self.k + pred, minlength=self.k * self.k).view(self.k, self.k)
        else:
            out = outputs.detach().double().view(n, -1)
            y = targets.double().view(n, -1)
            err = out - y
            self.sq += (err * err).sum(0)
            self.abs += err.abs().sum(0)
            self.y_sum += y.sum(0)
            self.y_sq += (y * y).sum(0)

    def compute(self) -> dict[str, float]:
        n = self.n.clamp_min(1)
        out = {"loss": self.loss_sum / n}
        if self.task == "classification":
            cm = self.confusion.double()
            tp = cm.diag()
            out["acc"] = tp.sum() / cm.sum().clamp_min(1)
            precision = tp / cm.sum(0).clamp_min(1)
            recall = tp / cm.sum(1).clamp_min(1)
            f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall), torch.zeros_like(tp))
            # Macro F1 over the classes present in targets or predictions (as torchmetrics and sklearn do).
            present = (cm.sum(0) + cm.sum(1)) > 0
            out["f1"] = f1[present].mean() if present.any() else torch.zeros((), dtype=torch.float64)
        else:
            out["mse"] = (self.sq / n).mean()
            out["mae"] = (self.abs / n).mean()
            ss_tot = self.y_sq - self.y_sum**2 / n
            out["r2"] = (1 - self.sq / ss_tot.clamp_min(1e-12)).mean()
        values = torch.stack([v.to(torch.float64) for v in out.values()]).tolist()
        return dict(zip(out, values))


def metric_names(task: str) -> list[str]:
    return ["loss", "acc", "f1"] if task == "classification" else ["loss", "mse", "mae", "r2"]


def monitor_default(task: str) -> tuple[str, str]:
    return ("val/acc", "max") if task == "classification" else ("val/loss", "min")
