"""nnml's training against the loop a person would write by hand, in one process, alternating.

nnml runs through ``nnml.run.train.train(cfg, RunContext(run_dir, trust), quiet=True)`` with a config composed from the real configs,
default logging (TensorBoard) and checkpointing on. The plain loop builds the same architecture with torch.nn alone,
seeds it the same way and draws the same batch order, so both start from the same weights, see the same batches
and (on CPU, float32) end with the same test accuracy. Throughput counts training-step time only, measured the same
way for both (each epoch's training batches, up to a host sync at the epoch's end); validation, logging and
checkpoints are reported apart (``fit_s``: whole fit wall time).

    python scripts/bench.py                                  # default job: digits, MLP 64-256-256-10, Adam, batch 128
    python scripts/bench.py --batch-size 1024 --repeats 10
    python scripts/bench.py --model cnn --device cuda --precision bf16 --compile

    python scripts/bench.py --suite tasks                    # every kind of learning vs its plain loop (bench_tasks.py)

Prints one JSON object (also written to --out if given). Medians over --repeats alternating runs; the order of the
two alternates every repeat (nnml first, then plain first, ...), so neither always runs on a warmer machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "scripts"))  # bench_tasks (--suite tasks)
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from nnml.config.targets import Trust


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="supervised", choices=["supervised", "tasks"],
                   help="supervised: this in-process race (the default); tasks: every kind of learning against its "
                        "plain loop in fresh processes (scripts/bench_tasks.py; bench.py --suite tasks --help)")
    p.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    p.add_argument("--dataset", default="digits", help="any nnml dataset option (classification)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    p.add_argument("--precision", default="32", choices=["32", "bf16", "16"])
    p.add_argument("--compile", action="store_true", help="torch.compile both models")
    p.add_argument("--threads", type=int, default=1, help="torch threads for both")
    p.add_argument("--repeats", type=int, default=10, help="timed runs of each (alternating)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--logger", default="tensorboard", help="nnml logger option (default: the default, tensorboard)")
    p.add_argument("--override", action="append", default=[], help="extra nnml override, e.g. trainer.patience=5")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--threads-study", action="store_true",
                   help="instead: step time of small and large models at 1..cores threads and at what "
                        "trainer.num_threads=auto picks, quiet and with a busy loop in another process")
    p.add_argument("--study-seconds", type=float, default=1.0, help="--threads-study: timed seconds per cell")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- measurement helpers
def reset_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) so each run reports its own peak.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def epoch_cpu_time():
    """A one-item list that ends up holding the CPU seconds (this process's threads) spent in the training loop's
    own epoch method while the block ran: on a machine other processes load, the wall clock also counts waits for
    a core, the CPU clock much less of them."""
    from nnml.engine.loop import Trainer

    cpu = [0.0]
    epoch_method = Trainer._train_epoch

    def cpu_timed(self, guard):
        c0 = time.process_time()
        try:
            return epoch_method(self, guard)
        finally:
            cpu[0] += time.process_time() - c0

    Trainer._train_epoch = cpu_timed
    try:
        yield cpu
    finally:
        Trainer._train_epoch = epoch_method


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_cuda_peak(device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peak_mb(device):
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None


# ----------------------------------------------------------------------------- nnml side
def nnml_config(args):
    from hydra import compose, initialize_config_dir

    import nnml.config.resolvers  # noqa: F401
    from nnml.config import config_dir

    overrides = [f"dataset={args.dataset}", f"model={args.model}", f"dataset.batch_size={args.batch_size}",
                 f"trainer.max_epochs={args.epochs}", f"trainer.device={args.device}",
                 f"trainer.precision={args.precision}", f"trainer.compile={str(args.compile).lower()}",
                 f"trainer.num_threads={args.threads}", f"seed={args.seed}", f"logger={args.logger}", *args.override]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    return cfg


def run_nnml(cfg, args, device) -> dict:
    from nnml.engine.callbacks import Callback
    from nnml.run.train import train

    class Clock(Callback):
        def on_fit_start(self, state):
            sync(device)
            self.t0 = time.perf_counter()
            self.first = None

        def on_epoch_end(self, state, metrics):
            if self.first is None:
                self.first = time.perf_counter() - self.t0

        def on_fit_end(self, state):
            self.fit_s = time.perf_counter() - self.t0
            self.samples = state.train_samples

    clock = Clock()
    choices = {"dataset": args.dataset, "model": args.model, "loss": "cross_entropy", "optimizer": "adam"}
    with epoch_cpu_time() as cpu, tempfile.TemporaryDirectory(prefix="nnml-bench-") as d:
        reset_peak_rss()
        reset_cuda_peak(device)
        t0 = time.perf_counter()
        from nnml.run.train import RunContext

        ctx = RunContext(run_dir=Path(d), trust=Trust.own(cfg), choices=choices)
        m = train(cfg, ctx, callbacks=[clock], quiet=True)
        call_s = time.perf_counter() - t0
        files = sorted(p.name for p in Path(d).iterdir())
    return {
        "samples_per_s": m["train_samples_per_s"], "train_time_s": m["train_time_s"], "fit_s": clock.fit_s,
        "cpu_time_s": round(cpu[0], 4), "cpu_samples_per_s": round(clock.samples / cpu[0], 1),
        "call_s": call_s, "first_epoch_s": clock.first, "compile_time_s": m.get("compile_time_s", 0.0),
        "eval_time_s": m["eval_time_s"], "checkpoint_time_s": m["checkpoint_time_s"], "test_acc": m["test/acc"],
        "best_epoch": m["best_epoch"], "peak_rss_mb": round(peak_rss_mb(), 1), "cuda_max_allocated_mb": cuda_peak_mb(device),
        "run_files": files,
    }


# ----------------------------------------------------------------------------- the plain loop
def plain_model(kind: str, input_shape, num_outputs: int) -> nn.Module:
    """The default configs' architectures written out with torch.nn (mlp: 256-256, ReLU, dropout 0.2; cnn: conv
    16-32 3x3, max-pool, head 128). Built in the same order as nnml's, so the same seed gives the same weights."""
    if kind == "mlp":
        width = math.prod(input_shape)
        return nn.Sequential(nn.Flatten(), nn.Linear(width, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 256),
                             nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, num_outputs))
    c, h, w = input_shape
    features = nn.Sequential(nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    head = nn.Sequential(nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), 128), nn.ReLU(), nn.Linear(128, num_outputs))
    return nn.Sequential(features, head)


def run_plain(data, args, device) -> dict:
    reset_peak_rss()
    reset_cuda_peak(device)
    t_call = time.perf_counter()
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[args.precision]
    torch.manual_seed(args.seed)
    model = plain_model(args.model, tuple(data.input_shape), data.num_outputs).to(device)
    if device.type == "cuda" and args.model == "cnn":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    loss_fn = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler("cuda") if dtype is torch.float16 else None
    fwd = torch.compile(model) if args.compile else model
    x, y = data.x_train.to(device), data.y_train.to(device)
    xv, yv = data.x_val.to(device), data.y_val.to(device)
    xt, yt = data.x_test.to(device), data.y_test.to(device)
    n, bs = len(y), args.batch_size

    def autocast():
        return torch.autocast(device.type, dtype=dtype) if dtype is not None else torch.autocast(device.type, enabled=False)

    @torch.inference_mode()
    def accuracy(xs, ys):
        model.eval()
        with autocast():
            pred = fwd(xs).argmax(1)
        model.train()
        return (pred == ys).float().mean().item()

    train_s, cpu_s, compile_s, first_epoch, best_acc, best_state = 0.0, 0.0, 0.0, None, -1.0, None
    sync(device)
    t_fit = time.perf_counter()
    for epoch in range(args.epochs):
        c0, t0 = time.process_time(), time.perf_counter()
        # nnml's epoch order: a generator seeded from (seed, epoch); a hand-written loop would use torch.randperm(n).
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)).to(device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = x[idx], y[idx]
            with autocast():
                loss = loss_fn(fwd(xb).float(), yb)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            if args.compile and epoch == 0 and i == 0:
                sync(device)
                compile_s = time.perf_counter() - t0
                c0, t0 = time.process_time(), time.perf_counter()
        sync(device)
        train_s += time.perf_counter() - t0
        cpu_s += time.process_time() - c0
        acc = accuracy(xv, yv)  # validation each epoch, keeping the best weights (what nnml does by default)
        if acc > best_acc:
            best_acc = acc
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if first_epoch is None:
            first_epoch = time.perf_counter() - t_fit
    fit_s = time.perf_counter() - t_fit
    model.load_state_dict(best_state)
    test_acc = accuracy(xt, yt)
    steps_total = n * args.epochs - (bs if args.compile else 0)  # the compiling step is timed apart
    return {
        "samples_per_s": round(steps_total / train_s, 1), "train_time_s": round(train_s, 4), "fit_s": fit_s,
        "cpu_time_s": round(cpu_s, 4), "cpu_samples_per_s": round(steps_total / cpu_s, 1),
        "call_s": time.perf_counter() - t_call, "first_epoch_s": first_epoch, "compile_time_s": round(compile_s, 4),
        "test_acc": test_acc, "peak_rss_mb": round(peak_rss_mb(), 1), "cuda_max_allocated_mb": cuda_peak_mb(device),
    }


# ----------------------------------------------------------------------------- driver
def alternate(run_a, run_b, repeats: int, first: int = 0, on_pair=None) -> tuple[list, list]:
    """``repeats`` pairs of runs of ``run_a`` (nnml) and ``run_b`` (plain), back to back; pair ``first + r`` runs
    ``run_a`` first when even, ``run_b`` first when odd, so neither always runs on a warmer (or busier) machine."""
    a_runs, b_runs = [], []
    for r in range(repeats):
        if (first + r) % 2 == 0:
            a = run_a()
            b = run_b()
        else:
            b = run_b()
            a = run_a()
        a_runs.append(a)
        b_runs.append(b)
        if on_pair is not None:
            on_pair(r, a, b)
    return a_runs, b_runs


def paired_ratio(a_runs, b_runs, key: str = "samples_per_s") -> tuple[float, list[float]]:
    """The median over pairs of a / b (and every pair's ratio): 1.0 means nnml costs nothing."""
    ratios = [a[key] / b[key] for a, b in zip(a_runs, b_runs)]
    return round(statistics.median(ratios), 4), [round(r, 4) for r in ratios]


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(vals), 4) if vals else None


def summary(runs):
    out = {k: med(runs, k) for k in ("samples_per_s", "cpu_samples_per_s", "train_time_s", "fit_s", "call_s", "first_epoch_s",
                                     "compile_time_s", "peak_rss_mb", "cuda_max_allocated_mb")}
    out["samples_per_s_all"] = [r["samples_per_s"] for r in runs]
    out["test_acc_all"] = [round(r["test_acc"], 6) for r in runs]
    for k in ("eval_time_s", "checkpoint_time_s"):
        if runs and k in runs[0]:
            out[k] = med(runs, k)
    return out


def loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# ----------------------------------------------------------------------------- thread study
STUDY_MODELS = {  # name -> (model kind, input shape, batch size, hidden / channels)
    "mlp (default: digits, 64-256-256-10, batch 128)": ("mlp", (1, 8, 8), 128, [256, 256]),
    "cnn (digits 8x8, channels 16/32, batch 128)": ("cnn", (1, 8, 8), 128, [16, 32]),
    "large mlp (784-2048-2048-10, batch 512)": ("mlp", (1, 28, 28), 512, [2048, 2048]),
    "large cnn (28x28, channels 64/128, batch 256)": ("cnn", (1, 28, 28), 256, [64, 128]),
}


def _study_model(kind, shape, hidden):
    from nnml.models.cnn import CNN
    from nnml.models.mlp import MLP

    if kind == "mlp":
        return MLP(shape, 10, hidden=hidden, dropout=0.2)
    return CNN(shape, 10, channels=hidden)


def _step_times(model, opt, x, y, counts, seconds: float) -> dict[int, float]:
    """Median seconds per training step at each thread count. The counts take turns in blocks of ~0.2 s (each
    block at one count, as a run uses one), so a change of load or clock hits every count alike."""
    loss_fn = nn.CrossEntropyLoss()

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    per_block = {}
    for n in counts:  # warm-up: the thread pool, the allocator; and how many steps fill a block
        torch.set_num_threads(n)
        step()
        t0 = time.perf_counter()
        step()
        per_block[n] = max(1, int(0.2 / max(time.perf_counter() - t0, 1e-6)))
    times = {n: [] for n in counts}
    start = time.perf_counter()
    while time.perf_counter() - start < seconds * len(counts) or min(len(v) for v in times.values()) < 5:
        for n in counts:
            torch.set_num_threads(n)
            t0 = time.perf_counter()
            for _ in range(per_block[n]):
                step()
            times[n].append((time.perf_counter() - t0) / per_block[n])
    return {n: statistics.median(v) for n, v in times.items()}


def _busy_loop():
    import subprocess

    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def threads_study(args) -> dict:
    from nnml.engine import cpuload
    from nnml.engine.device import THREADS_MIN_FLOPS, auto_threads, step_flops, usable_cores

    cores = usable_cores()
    counts = list(range(1, cores + 1))
    out = {"cores": cores, "threads_min_flops": THREADS_MIN_FLOPS, "loadavg_before": loadavg(), "models": {}}
    for name, (kind, shape, bs, hidden) in STUDY_MODELS.items():
        torch.manual_seed(0)
        model = _study_model(kind, shape, hidden)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = torch.randn(bs, *shape), torch.randint(0, 10, (bs,))
        flops = step_flops([model], (x,), bs)
        row = {"flops_per_step": flops}
        for load_name in ("quiet", "loaded"):
            busy = _busy_loop() if load_name == "loaded" else None
            try:
                if busy:
                    time.sleep(1.0)
                # What auto picks here: the rule with the other processes' CPU use it would measure.
                others = cpuload.CpuWindow().others_cores(1.0)
                picked, why = auto_threads(flops, cores, others, cpuload.load_average(), cores)
                times = _step_times(model, opt, x, y, counts, args.study_seconds)
                torch.set_num_threads(picked)
                auto_t = times[picked]
            finally:
                if busy:
                    busy.kill()
                    busy.wait()
            best = min(times.values())
            row[load_name] = {"step_ms": {n: round(t * 1e3, 3) for n, t in times.items()}, "auto_picks": picked,
                              "others_cores": None if others is None else round(others, 2),
                              "auto_why": why, "auto_vs_best": round(auto_t / best, 3),
                              "auto_vs_1_thread": round(auto_t / times[1], 3)}
            print(f"{name} [{load_name}]: " + ", ".join(f"{n} thr {t * 1e3:.2f} ms" for n, t in times.items())
                  + f"; auto {picked} ({why})", file=sys.stderr)
        out["models"][name] = row
    out["loadavg_after"] = loadavg()
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    suite = argparse.ArgumentParser(add_help=False)
    suite.add_argument("--suite", default="supervised", choices=["supervised", "tasks"])
    if suite.parse_known_args(argv)[0].suite == "tasks":
        import bench_tasks

        return bench_tasks.main(argv)
    args = parse_args(argv)
    if args.threads_study:
        result = threads_study(args)
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            Path(args.out).write_text(text + "\n")
        return result
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = nnml_config(args)
    from nnml.run.build import build_data

    data = build_data(cfg.dataset, seed=args.seed, trust=Trust())  # the very tensors nnml trains on (same seed, same split)
    load_before = loadavg()
    # One short untimed run of each first: lazy imports, allocator and thread-pool warm-up.
    warm = argparse.Namespace(**{**vars(args), "epochs": 1})
    run_nnml(nnml_config(warm), warm, device)
    run_plain(data, warm, device)

    def report(r, a, b):
        print(f"repeat {r + 1}/{args.repeats}: nnml {a['samples_per_s']:,.0f}  plain {b['samples_per_s']:,.0f} "
              f"samples/s  ratio {a['samples_per_s'] / b['samples_per_s']:.3f}  cpu ratio "
              f"{a['cpu_samples_per_s'] / b['cpu_samples_per_s']:.3f}", file=sys.stderr)

    nnml_runs, plain_runs = alternate(lambda: run_nnml(cfg, args, device), lambda: run_plain(data, args, device),
                                      args.repeats, on_pair=report)
    ratio, ratios = paired_ratio(nnml_runs, plain_runs)
    cpu_ratio, cpu_ratios = paired_ratio(nnml_runs, plain_runs, "cpu_samples_per_s")
    fit_ratios = [b["fit_s"] / a["fit_s"] for a, b in zip(nnml_runs, plain_runs)]
    acc_diff = max(abs(a["test_acc"] - b["test_acc"]) for a, b in zip(nnml_runs, plain_runs))
    result = {
        "config": {k: v for k, v in vars(args).items() if k != "out"},
        "conditions": {
            "machine": platform.node(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "loadavg_before": load_before, "loadavg_after": loadavg(),
            "train_samples": len(data.y_train), "steps_per_epoch": math.ceil(len(data.y_train) / args.batch_size),
        },
        "nnml": summary(nnml_runs),
        "plain": summary(plain_runs),
        # nnml / plain in training-step throughput, per alternating pair then the median (1.0 = no cost)
        "ratio": ratio,
        "ratios_all": ratios,
        # the same from CPU seconds of the same timed region (what to trust on a machine other processes load)
        "cpu_ratio": cpu_ratio,
        "cpu_ratios_all": cpu_ratios,
        # plain fit time / nnml fit time: whole fit incl. validation, logging and checkpoints
        "fit_ratio": round(statistics.median(fit_ratios), 4),
        "test_acc_max_abs_diff": round(acc_diff, 6),
        "nnml_run_files": nnml_runs[0]["run_files"],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
