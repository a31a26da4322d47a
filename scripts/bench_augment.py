"""Training throughput with a batch augmentation on: nnml (``task.augment``) against a plain loop doing the same.

Both run in one process, alternating (nnml first, then plain first, ...), medians over ``--repeats``. nnml runs
through ``nnml.run.train.train`` (scripts/bench.py's harness: real configs, TensorBoard, checkpoints) with
``task.augment`` set; the plain loop is scripts/bench.py's hand-written loop with the same augmentation modules
called on each batch, on the device, before the forward pass. The ratio is nnml / plain training-step throughput
(1.0 = no cost); the issue asks for >= 0.90.

    python scripts/bench_augment.py                          # digits, MLP, RandomTranslate(1) + GaussianNoise(0.1)
    python scripts/bench_augment.py --dataset mnist1d --augment signal --repeats 6
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (scripts/bench.py: the harness this reuses)
import torch  # noqa: E402
from torch import nn  # noqa: E402

AUGMENTS = {
    "image": [{"_target_": "nnml.augment.image.RandomTranslate", "max_shift": 1},
              {"_target_": "nnml.augment.signal.GaussianNoise", "std": 0.1}],
    "signal": [{"_target_": "nnml.augment.signal.RandomShift", "max_shift": 3},
               {"_target_": "nnml.augment.signal.RandomScale", "low": 0.9, "high": 1.1},
               {"_target_": "nnml.augment.signal.GaussianNoise", "std": 0.05}],
}


def override(specs) -> str:
    items = ",".join("{" + ",".join(f"{k}:{v}" for k, v in s.items()) + "}" for s in specs)
    return f"task.augment=[{items}]"


def run_plain(data, args, device, augment) -> dict:
    """scripts/bench.py's plain loop (MLP 256-256, dropout 0.2, Adam 1e-3, nnml's batch order, best-val weights)
    with ``augment`` applied to each training batch."""
    torch.manual_seed(args.seed)
    model = bench.plain_model(args.model, tuple(data.input_shape), data.num_outputs).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = data.x_train.to(device), data.y_train.to(device)
    xv, yv = data.x_val.to(device), data.y_val.to(device)
    xt, yt = data.x_test.to(device), data.y_test.to(device)
    n, bs = len(y), args.batch_size

    @torch.inference_mode()
    def accuracy(xs, ys):
        model.eval()
        pred = model(xs).argmax(1)
        model.train()
        return (pred == ys).float().mean().item()

    train_s, best, best_state = 0.0, -1.0, None
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)).to(device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = augment(x[idx]), y[idx]
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        bench.sync(device)
        train_s += time.perf_counter() - t0
        acc = accuracy(xv, yv)
        if acc > best:
            best, best_state = acc, {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return {"samples_per_s": round(n * args.epochs / train_s, 1), "train_time_s": round(train_s, 4),
            "test_acc": accuracy(xt, yt)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--augment", choices=sorted(AUGMENTS), default=None, help="default: image for image data")
    p.add_argument("--out")
    own, rest = p.parse_known_args(argv)
    args = bench.parse_args(rest)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from nnml.config.targets import Trust
    from nnml.run.build import build_data
    from nnml.tasks.supervised.regularize import build_augment

    base_cfg = bench.nnml_config(args)
    data = build_data(base_cfg.dataset, seed=args.seed, trust=Trust())
    kind = own.augment or ("image" if len(data.input_shape) == 3 else "signal")
    specs = AUGMENTS[kind]
    args.override = [*args.override, override(specs)]
    cfg = bench.nnml_config(args)
    augment = build_augment(specs).to(device)
    warm = argparse.Namespace(**{**vars(args), "epochs": 1})
    bench.run_nnml(bench.nnml_config(warm), warm, device)
    run_plain(data, warm, device, augment)
    load_before = bench.loadavg()
    nnml_runs, plain_runs = [], []
    for r in range(args.repeats):
        pair = [lambda: nnml_runs.append(bench.run_nnml(cfg, args, device)),
                lambda: plain_runs.append(run_plain(data, args, device, augment))]
        for f in pair if r % 2 == 0 else pair[::-1]:
            f()
        print(f"repeat {r + 1}/{args.repeats}: nnml {nnml_runs[-1]['samples_per_s']:,.0f}  plain "
              f"{plain_runs[-1]['samples_per_s']:,.0f} samples/s", file=sys.stderr)
    ratios = [a["samples_per_s"] / b["samples_per_s"] for a, b in zip(nnml_runs, plain_runs)]
    result = {
        "config": {**{k: v for k, v in vars(args).items() if k not in ("out", "override")}, "augment": kind},
        "augment": specs,
        "conditions": {"cores": __import__("os").cpu_count(), "torch": torch.__version__,
                       "loadavg_before": load_before, "loadavg_after": bench.loadavg(),
                       "train_samples": len(data.y_train),
                       "steps_per_epoch": math.ceil(len(data.y_train) / args.batch_size)},
        "nnml_samples_per_s": [r["samples_per_s"] for r in nnml_runs],
        "plain_samples_per_s": [r["samples_per_s"] for r in plain_runs],
        "nnml_test_acc": [round(r["test_acc"], 4) for r in nnml_runs],
        "plain_test_acc": [round(r["test_acc"], 4) for r in plain_runs],
        "ratio": round(statistics.median(ratios), 4),
        "ratios_all": [round(r, 4) for r in ratios],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if own.out:
        Path(own.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
