"""Magnitude pruning followed by a few epochs of fine-tuning (through the run's own task: its training step, batches
and validation metric), structured and unstructured.

Structured (``prune_structured``): Torch-Pruning's ``MagnitudePruner`` removes the ``ratio`` of output channels
(conv filters, hidden units) with the smallest L1 norm from every prunable layer but the output layer, and its
dependency graph shrinks the layers that consume them: the model really gets smaller and its dense kernels do
less work (halving every width cuts a layer's MACs about 4x).

Unstructured (``prune_unstructured``): ``torch.nn.utils.prune.l1_unstructured`` zeroes the ``ratio`` of weights
with the smallest magnitude in every Linear/Conv layer; the masks stay on during fine-tuning and are then made
permanent. The tensors keep their shape, so the file size, the MACs dense kernels perform and the latency do not
change: only the count of nonzero weights does. It is here to show exactly that.

A pruned model is saved as a plain state dict; :func:`resize_to` gives a fresh model the pruned shapes again.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nnml.accelerate.variant import MethodContext, Skip, Variant, head_layer, layers_of

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _ratio(ctx: MethodContext) -> float:
    ratio = float(ctx.option("ratio", 0.5))
    if not 0.0 < ratio < 1.0:
        raise Skip(f"ratio={ratio} must lie between 0 and 1")
    return ratio


def _finetune(model: nn.Module, ctx: MethodContext, notes: list[str]) -> dict:
    epochs = int(ctx.option("finetune_epochs", 5))
    if epochs <= 0:
        notes.append("not fine-tuned (--finetune-epochs 0)")
        return {}
    if ctx.finetune is None:
        notes.append(f"not fine-tuned ({ctx.no_finetune or 'no training step given'})")
        return {}
    info = ctx.finetune(model, epochs) or {}
    notes.append(f"fine-tuned {epochs} epochs" + (f" ({info['summary']})" if info.get("summary") else ""))
    return info


def prune_structured(model: nn.Module, ctx: MethodContext) -> Variant:
    import torch_pruning as tp

    ratio = _ratio(ctx)
    pruned = copy.deepcopy(model).cpu().eval()
    head = head_layer(pruned, ctx.num_outputs)
    if head is None or len(layers_of(pruned, PRUNABLE)) < 2:
        raise Skip("the model has no hidden Linear/Conv layer whose channels could be removed")
    before = sum(p.numel() for p in pruned.parameters())
    try:
        pruner = tp.pruner.MagnitudePruner(pruned, ctx.example[:2], importance=tp.importance.MagnitudeImportance(p=1),
                                           pruning_ratio=ratio, ignored_layers=[head])
        pruner.step()
        with torch.no_grad():
            pruned(ctx.example)
    except Exception as e:  # the dependency graph of an unusual model: skip it, keep the other methods going
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise Skip(f"Torch-Pruning could not prune this model ({type(e).__name__}: {first})") from None
    after = sum(p.numel() for p in pruned.parameters())
    notes = [f"{ratio:.0%} of channels removed ({before:,} -> {after:,} parameters)"]
    _finetune(pruned, ctx, notes)
    pruned.eval()
    path = ctx.out_dir / "model.pt"
    torch.save(pruned.state_dict(), path)
    return Variant("prune_structured", pruned, float_model=pruned, files=[path], notes=notes,
                   extra={"ratio": ratio})


def prune_unstructured(model: nn.Module, ctx: MethodContext) -> Variant:
    from torch.nn.utils import prune

    ratio = _ratio(ctx)
    pruned = copy.deepcopy(model).cpu().eval()
    layers = layers_of(pruned, PRUNABLE)
    if not layers:
        raise Skip("the model has no Linear/Conv weights to prune")
    for _, m in layers:
        prune.l1_unstructured(m, "weight", amount=ratio)
    notes = [f"{ratio:.0%} of Linear/Conv weights zeroed (L1, per layer)"]
    _finetune(pruned, ctx, notes)  # the masks keep pruned weights at zero while the rest train
    for _, m in layers:
        prune.remove(m, "weight")
    pruned.eval()
    notes.append("dense kernels: same size, MACs and speed")
    path = ctx.out_dir / "model.pt"
    torch.save(pruned.state_dict(), path)
    return Variant("prune_unstructured", pruned, float_model=pruned, files=[path], notes=notes,
                   extra={"ratio": ratio})


def resize_to(model: nn.Module, state: dict) -> nn.Module:
    """Give ``model``'s layers the shapes of ``state`` (a structurally pruned model's state dict), then load it."""
    with torch.no_grad():
        for name, m in model.named_modules():
            prefix = f"{name}." if name else ""
            for key, p in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
                saved = state.get(prefix + key)
                if saved is not None and saved.shape != p.shape:
                    new = torch.empty(saved.shape, dtype=p.dtype)
                    if isinstance(p, nn.Parameter):
                        setattr(m, key, nn.Parameter(new, requires_grad=p.requires_grad))
                    else:
                        m.register_buffer(key, new)
            w = state.get(prefix + "weight")
            if w is None:
                continue
            if isinstance(m, nn.Linear):
                m.out_features, m.in_features = w.shape
            elif isinstance(m, nn.modules.conv._ConvNd):
                if m.transposed:
                    m.in_channels, m.out_channels = w.shape[0], w.shape[1] * m.groups
                else:
                    m.out_channels, m.in_channels = w.shape[0], w.shape[1] * m.groups
            elif isinstance(m, nn.modules.batchnorm._NormBase):
                m.num_features = w.shape[0]
            elif isinstance(m, nn.GroupNorm):
                m.num_channels = w.shape[0]
            elif isinstance(m, nn.LayerNorm):
                m.normalized_shape = tuple(w.shape)
    model.load_state_dict(state)
    return model
