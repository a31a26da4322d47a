"""The default ``nnml train`` job written as a plain PyTorch script: the yardstick for whole-process wall time.

Same work as ``nnml train`` with its defaults: scikit-learn's digits, the same stratified 70/10/20 split and
standardization, MLP 64-256-256-10 (ReLU, dropout 0.2), Adam lr 1e-3, batch 128, 30 epochs, validation every epoch
with the best weights kept, a test of the best weights, TensorBoard scalars per epoch, a checkpoint and a
metrics.json. No config system, no console table, no figures.

    python scripts/plain_train.py OUT_DIR [--threads 1] [--no-tensorboard]

``scripts/bench.py`` compares training throughput in one process; ``docs/performance.md`` shows how the two whole
processes were timed against each other.
"""

import argparse
import json
import time
from pathlib import Path

t_start = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from torch import nn  # noqa: E402


def split(seed=42, val_fraction=0.1, test_fraction=0.2):
    b = load_digits()
    x, y = b.data.astype(np.float32), b.target
    idx = np.arange(len(x))
    rest, test = train_test_split(idx, test_size=round(test_fraction * len(x)), random_state=seed, stratify=y)
    tr, va = train_test_split(rest, test_size=round(val_fraction * len(x)), random_state=seed, stratify=y[rest])
    mean, std = x[tr].mean(0), x[tr].std(0)
    x = (x - mean) / np.where(std < 1e-8, 1.0, std)
    t = lambda ix: (torch.from_numpy(x[np.sort(ix)]), torch.from_numpy(y[np.sort(ix)]).long())  # noqa: E731
    return t(tr), t(va), t(test)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--no-tensorboard", action="store_true")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    (x, y), (xv, yv), (xt, yt) = split()
    torch.manual_seed(42)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 256), nn.ReLU(),
                          nn.Dropout(0.2), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    writer = None
    if not args.no_tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out))

    @torch.inference_mode()
    def evaluate(xs, ys):
        model.eval()
        logits = model(xs)
        model.train()
        return loss_fn(logits, ys).item(), (logits.argmax(1) == ys).float().mean().item()

    n, bs, best, best_state, step, train_s = len(y), 128, -1.0, None, 0, 0.0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total = torch.zeros(())
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
            step += 1
        train_loss = total.item() / n
        train_s += time.perf_counter() - t0
        val_loss, val_acc = evaluate(xv, yv)
        if writer:
            for tag, v in (("train/loss", train_loss), ("val/loss", val_loss), ("val/acc", val_acc)):
                writer.add_scalar(tag, v, step)
        if val_acc > best:
            best, best_state = val_acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    torch.save({"model": best_state, "optimizer": opt.state_dict()}, out / "last.pt")
    test_loss, test_acc = evaluate(xt, yt)
    if writer:
        writer.close()
    metrics = {"test/loss": test_loss, "test/acc": test_acc, "val/acc": best, "train_time_s": round(train_s, 4),
               "train_samples_per_s": round(n * args.epochs / train_s, 1),
               "wall_time_s": round(time.perf_counter() - t_start, 3)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
