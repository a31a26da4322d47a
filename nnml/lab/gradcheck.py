"""Lab ``gradcheck``: hand-written gradients against torch.autograd, layer by layer, in float64.

A small scratch network (:mod:`nnml.lab.layers`) and the same network written with torch's own
operations share their weights; both back-propagate one loss on random data, and the table shows
for every layer's weight, bias and input gradient the largest absolute gap. In float64 the gaps
are rounding errors (~1e-16); a wrong chain rule shows up as a gap of order one.

    nnml lab gradcheck activation=gelu hidden=[32,16] criterion=mse
"""

from __future__ import annotations

import pathlib

import torch
import torch.nn.functional as F

from nnml.lab.layers import Linear, Sequential, activation_layer
from nnml.lab.losses import MSELoss, SoftmaxCrossEntropy
from nnml.lab.report import LabOutput, check_choice, checked, options, rich_table
from nnml.models.activations import NAMES, build_activation

DEFAULTS = {
    "activation": "tanh",
    "hidden": [16, 16],
    "inputs": 4,
    "classes": 3,
    "batch": 32,
    "criterion": "cross_entropy",  # or mse (against one-hot targets)
    "seed": 0,
    "tolerance": 1e-10,
}
LOSSES = ("cross_entropy", "mse")


def _random_network(sizes, activation, generator):
    """Leaf tensors for every parameter, float64: weights, biases and (prelu) slopes per layer."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = torch.randn(fan_out, fan_in, generator=generator, dtype=torch.float64) / fan_in**0.5
        b = torch.randn(fan_out, generator=generator, dtype=torch.float64) * 0.1
        slope = torch.tensor([0.25], dtype=torch.float64) if activation == "prelu" else None
        params.append((w, b, slope))
    return params


def run(cfg, out_dir: pathlib.Path):
    opts = checked("gradcheck", options("gradcheck", cfg, DEFAULTS), {
        "hidden": "pos_ints", "inputs": "pos_int", "classes": "pos_int2", "batch": "pos_int", "seed": "int",
        "tolerance": "pos_float"})
    check_choice("activation", opts["activation"], NAMES)
    check_choice("criterion", opts["criterion"], LOSSES)
    act = opts["activation"]
    g = torch.Generator().manual_seed(int(opts["seed"]))
    sizes = [int(opts["inputs"]), *map(int, opts["hidden"]), int(opts["classes"])]
    params = _random_network(sizes, act, g)
    x = torch.randn(int(opts["batch"]), sizes[0], generator=g, dtype=torch.float64)
    labels = torch.randint(0, sizes[-1], (len(x),), generator=g)
    targets = F.one_hot(labels, sizes[-1]).double()

    # hand-written: forward, loss, backward, no autograd anywhere
    layers, names = [], []
    for i, (w, b, slope) in enumerate(params):
        layers.append(Linear(w, b))
        names.append(f"{i}: Linear({w.shape[1]}, {w.shape[0]})")
        if i < len(params) - 1:
            layers.append(activation_layer(act, slope))
            names.append(f"{i}: {act}")
    net = Sequential(*layers)
    loss_fn = SoftmaxCrossEntropy() if opts["criterion"] == "cross_entropy" else MSELoss()
    with torch.no_grad():
        loss = loss_fn(net(x), labels if opts["criterion"] == "cross_entropy" else targets)
        # Sequential.backward, unrolled so that the gradient reaching each layer's input can be shown
        grad, grad_inputs = loss_fn.backward(), []
        for layer in reversed(net.layers):
            grad = layer.backward(grad)
            grad_inputs.insert(0, grad)

    # the same network in torch operations; every layer's input is kept to read its gradient
    leaves = [[t.clone().requires_grad_(True) if t is not None else None for t in p] for p in params]
    h = x.clone().requires_grad_(True)
    inputs = []
    for i, (w, b, slope) in enumerate(leaves):
        inputs.append(h)
        h = F.linear(h, w, b)
        if i < len(leaves) - 1:
            inputs.append(h)
            if act == "prelu":
                h = F.prelu(h, slope)
            else:
                h = build_activation(act).double()(h)
    ref_loss = F.cross_entropy(h, labels) if opts["criterion"] == "cross_entropy" else F.mse_loss(h, targets)
    for t in inputs:
        t.retain_grad()
    ref_loss.backward()

    rows = []
    for layer, name, grad_input, layer_input in zip(net.layers, names, grad_inputs, inputs):
        pairs = [("input", grad_input, layer_input.grad)]
        if isinstance(layer, Linear):
            i = int(name.split(":")[0])
            pairs += [("weight", layer.grads[0], leaves[i][0].grad), ("bias", layer.grads[1], leaves[i][1].grad)]
        elif act == "prelu":
            i = int(name.split(":")[0])
            pairs.append(("slope", layer.grads[0], leaves[i][2].grad))
        for tensor, mine, theirs in pairs:
            gap = (mine - theirs).abs().max().item()
            rows.append({"layer": name, "tensor": tensor, "shape": "x".join(map(str, mine.shape)),
                         "max |hand - autograd|": gap, "ok": gap <= opts["tolerance"]})
    loss_gap = abs(loss.item() - ref_loss.item())
    worst = max(r["max |hand - autograd|"] for r in rows)

    with LabOutput(out_dir) as out:
        out.csv("gradcheck", rows)
        out.figure(_figure(rows, opts["tolerance"]), "gradcheck")
    numbers = {"max_gap": worst, "loss_gap": loss_gap, "all_ok": all(r["ok"] for r in rows), "checked": len(rows),
               "loss": loss.item(), "files": out.files}
    caption = (f"{opts['criterion']} loss {loss.item():.6f} (gap to torch {loss_gap:.1e}); float64; "
               f"tolerance {opts['tolerance']:g}")
    return numbers, rich_table(f"Hand-written vs autograd gradients ({act})", rows, caption)


def _figure(rows, tolerance):
    import matplotlib.pyplot as plt

    labels = [f"{r['layer']} {r['tensor']}" for r in rows]
    # an exact match (gap 0) is drawn at 1e-20 so that it shows on a log axis
    gaps = [max(r["max |hand - autograd|"], 1e-20) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.5))
    ax.barh(labels, gaps)
    ax.axvline(tolerance, color="red", ls="--", label=f"tolerance {tolerance:g}")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("max |hand-written - autograd| (float64)")
    ax.legend()
    fig.tight_layout()
    return fig
