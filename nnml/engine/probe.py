"""Per-layer statistics of training, read only at logging steps (``trainer.layer_stats``): what ``nnml doctor`` and
the live warnings look at to say that gradients vanish or explode, that ReLU units died or tanh/sigmoid units
saturated, or which layer's gradients hold NaN or inf.

Nothing runs on the steps between logging steps. At a logging step the loop calls :meth:`LayerProbe.read`, which
(1) takes the gradient norm of every layer with parameters from the gradients the step left (one host transfer for
all layers) and (2) arms one-shot forward hooks on the activation modules: the next training forward records each
one's statistics on the device and removes its hook, and the next :meth:`read` returns them. So the activation
numbers logged at step s are those of step s - every + 1, the first step after the previous logging step.

An activation's *units* are its output's features (dim 1: a Linear layer's outputs, a convolution's channels); a
unit is *dead* when it is not positive for any sample of the batch (nor at any position), *saturated* when the
output sits within 1% of the function's bounds (tanh, sigmoid, hardtanh, softsign).
"""

from __future__ import annotations

import torch
from torch import nn

RELU_LIKE = (nn.ReLU, nn.ReLU6)
# module class -> (low, high) bounds of the output; "saturated" is within 1% of the range from a bound
SATURATING = {nn.Tanh: (-1.0, 1.0), nn.Sigmoid: (0.0, 1.0), nn.Hardtanh: (-1.0, 1.0), nn.Softsign: (-1.0, 1.0)}
SATURATION_MARGIN = 0.01


def layer_label(name: str, module: nn.Module) -> str:
    """``1:Linear`` (the module's path in the model, then its class), or the class alone for the model itself."""
    return f"{name}:{type(module).__name__}" if name else type(module).__name__


class LayerProbe:
    """Reads one model's per-layer statistics at logging steps. ``activations=False``: gradient norms only (a
    compiled model, where a forward hook would force a recompile)."""

    def __init__(self, model: nn.Module, activations: bool = True):
        self.layers = []  # (label, [parameters]) of every module with parameters of its own
        self.units = []  # (label, module, kind) of every activation module
        for name, m in model.named_modules():
            own = [p for p in m.parameters(recurse=False) if p.requires_grad]
            if own:
                self.layers.append((layer_label(name, m), own))
            if activations and isinstance(m, RELU_LIKE):
                self.units.append((layer_label(name, m), m, "relu"))
            elif activations and type(m) in SATURATING:
                self.units.append((layer_label(name, m), m, "saturating"))
        self._handles: list = []
        self._captured: dict[str, dict[str, torch.Tensor]] = {}

    @classmethod
    def of(cls, task, on: bool, activations: bool = True) -> LayerProbe | None:
        """The probe of a task's primary module, or None when ``trainer.layer_stats`` is off or there is none."""
        module = task.modules.get(task.primary) if on else None
        return cls(module, activations) if module is not None else None

    def read(self) -> dict[str, float]:
        """``layers/grad_norm/<layer>`` of the gradients now present, the activation statistics captured since the
        last read (``layers/dead/<layer>``, ``layers/saturated/<layer>``, ``layers/act_mean/<layer>``,
        ``layers/act_std/<layer>``), then arms the hooks for the next training forward."""
        keys, values = [], []
        for label, params in self.layers:
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                keys.append(f"layers/grad_norm/{label}")
                values.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float())
                                                                    for g in grads])))
        for label, stats in self._captured.items():
            for stat, value in stats.items():
                keys.append(f"layers/{stat}/{label}")
                values.append(value)
        self._captured = {}
        out = {}
        if values:
            device = values[0].device
            numbers = torch.stack([v.to(device, torch.float32) for v in values]).tolist()  # one host transfer
            out = dict(zip(keys, numbers))
        self._arm()
        return out

    def _arm(self) -> None:
        if self._handles:
            return
        for label, module, kind in self.units:
            box = []
            box.append(module.register_forward_hook(lambda m, args, output, label=label, kind=kind, box=box:
                                                    self._capture(m, output, label, kind, box)))
            self._handles.append(box[0])

    def _capture(self, module, output, label: str, kind: str, box: list) -> None:
        if not module.training or not torch.is_grad_enabled() or not isinstance(output, torch.Tensor):
            return  # an evaluation forward: wait for the next training one
        with torch.no_grad():
            y = output.detach().float()
            stats = {"act_mean": y.mean(), "act_std": y.std() if y.numel() > 1 else torch.zeros((), device=y.device)}
            if kind == "relu":
                per_unit = y.transpose(0, 1).reshape(y.shape[1], -1) if y.dim() > 1 else y.reshape(1, -1)
                stats["dead"] = (per_unit.amax(dim=1) <= 0).float().mean()
            else:
                low, high = SATURATING[type(module)]
                margin = SATURATION_MARGIN * (high - low)
                stats["saturated"] = ((y <= low + margin) | (y >= high - margin)).float().mean()
        self._captured[label] = stats
        box[0].remove()
        self._handles = [h for h in self._handles if h is not box[0]]

    def __enter__(self) -> LayerProbe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
