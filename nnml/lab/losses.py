"""Losses with hand-written gradients: mean squared error and softmax cross-entropy.

``forward(prediction, target)`` returns the mean loss (a 0-dim tensor) and ``backward()`` returns
dL/d(prediction), the gradient a :class:`nnml.lab.layers.Sequential` starts its backward pass from.
Both average over the batch exactly as ``torch.nn.functional.mse_loss`` and ``cross_entropy`` do.
"""

from __future__ import annotations

from torch import Tensor


class MSELoss:
    """L = mean((p - t)^2) over all elements; dL/dp = 2 (p - t) / n."""

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        self.diff = prediction - target
        return (self.diff**2).mean()

    def backward(self) -> Tensor:
        return 2 * self.diff / self.diff.numel()

    __call__ = forward


class SoftmaxCrossEntropy:
    """L = mean_b(-log softmax(z_b)[y_b]); dL/dz = (softmax(z) - onehot(y)) / batch.

    The log-sum-exp subtracts each row's maximum first so that exp never overflows.
    """

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        shifted = logits - logits.max(dim=1, keepdim=True).values
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        self.probs, self.labels = log_probs.exp(), labels
        return -log_probs[range(len(labels)), labels].mean()

    def backward(self) -> Tensor:
        grad = self.probs.clone()
        grad[range(len(self.labels)), self.labels] -= 1
        return grad / len(self.labels)

    __call__ = forward
