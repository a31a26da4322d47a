"""Every kind of learning in nnml against the loop a person would write by hand: ``bench.py --suite tasks``.

For each task preset, one side trains through ``nnml.run.train.train`` (the real configs, TensorBoard and checkpoints
as by default); the other is a plain PyTorch loop: ``for batch in ...: loss.backward(); opt.step()`` written out
below, task by task, with no nnml loop, task step, metric or optimizer slot in it. The plain side builds its model,
loss, optimizer (and scheduler) and training tensors through nnml's own builders, exactly as ``train`` does, so both
start from the same weights and data; its batches are the same ones in the same order (in-memory data: the same
seeded permutation, written out; length-bucketed text: the dataset's own bucketed batches). The global RNG is
seeded the same way just before the first step on both sides (dropout, noise, negatives and views then match),
and each run ends with a digest of its primary module's weights: at one thread the two sides end with
**bit-identical weights** (``same_weights``), the proof that they did the same work.

Timing is the same on both sides: each epoch's training steps from the start of the epoch's batches to the
epoch's end (nnml: after its one host read of the epoch's metrics; plain: after a device sync), summed over the
epochs; samples per second = training samples / that time. Validation, logging and checkpoints run outside it
(nnml's per-step logging every ``log_every_n_steps`` is inside, as it is in a real run). The supervised plain loop
validates after every epoch and keeps the best weights, as nnml does by default (and as ``bench.py``'s loop does):
with 40 short epochs, what runs between epochs changes the next epoch's speed although it is untimed. Both sides import
``torch._dynamo`` (the first ``optimizer.step()`` of any program does) before the clock starts.

Every run is a fresh ``python`` process; the two sides of a pair run back to back, their order alternating from one
pair to the next, and the tasks take turns within each round, so a change of load hits every task alike.
``ratio`` = median over pairs of nnml / plain samples per second, per thread setting: ``1`` (both one torch
thread) and ``auto`` (nnml's ``trainer.num_threads=auto`` against torch's default thread count, what a plain loop
gets). ``cpu_ratio`` is the same median from each side's CPU seconds (this process's threads) over the same timed
region: on a machine other processes load, the wall clock also counts time spent waiting for a core, the CPU
clock much less of it. ``epoch_ratio`` is the median over pairs of plain's steady epoch time over nnml's (each
run's median epoch after its first two): a run's pace without its warm-up, less moved by one slow epoch. The
top-level numbers of a task are those of its worse thread setting (by wall ratio).

    python scripts/bench.py --suite tasks                       # every task, 5 pairs, threads 1 and auto
    python scripts/bench.py --suite tasks --tasks vae,gan --pairs 9 --threads-modes 1
    python scripts/bench.py --suite tasks --list                # the tasks and what each one runs
    python scripts/bench.py --suite tasks --override trainer.train_metrics=false   # like for like
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "scripts")):  # nnml of this checkout; bench.py's alternation and medians
    if _p not in sys.path:
        sys.path.insert(0, _p)
os.environ.setdefault("MPLBACKEND", "Agg")

SEED = 42


@dataclass(frozen=True)
class Bench:
    """A task preset as benchmarked: its overrides (the preset plus a smaller size, so a run takes seconds) and
    the plain loop that trains the same thing."""

    what: str
    overrides: tuple[str, ...]
    plain: str  # name of the plain-loop function below


TASKS: dict[str, Bench] = {
    "supervised_b128": Bench("digits MLP 64-256-256-10, Adam, batch 128, 40 epochs (50,320 rows)",
                             ("dataset=digits", "model=mlp", "dataset.batch_size=128", "trainer.max_epochs=40"),
                             "plain_supervised"),
    "supervised_b1024": Bench("the same at batch 1024, 40 epochs (the same 50,320 rows)",
                              ("dataset=digits", "model=mlp", "dataset.batch_size=1024", "trainer.max_epochs=40"),
                              "plain_supervised"),
    "segmentation": Bench("experiment=shapes_unet (U-Net, CE+Dice, one-cycle), 800 images, 1 epoch",
                          ("experiment=shapes_unet", "dataset.n_images=800", "trainer.max_epochs=1"),
                          "plain_segmentation"),
    "translation": Bench("experiment=translate_numbers (GRU + attention, clip 1.0), 1 epoch",
                         ("experiment=translate_numbers", "trainer.max_epochs=1"), "plain_translation"),
    "token_classification": Bench("experiment=ner_faker (BiLSTM-CRF + char encoder, word dropout), 1200 sentences, "
                                  "1 epoch", ("experiment=ner_faker", "dataset.n_train=1200", "trainer.max_epochs=1"),
                                  "plain_tagging"),
    "text_classification": Bench("experiment=langid (1-D CNN over characters), 1 epoch",
                                 ("experiment=langid", "trainer.max_epochs=1"), "plain_text_classification"),
    "vae": Bench("experiment=digits_vae (MLP VAE, KL warm-up), 25 epochs", ("experiment=digits_vae",
                                                                          "trainer.max_epochs=25"), "plain_vae"),
    "gan": Bench("experiment=digits_gan (MLP GAN, non-saturating, two Adams), 4 epochs",
                 ("experiment=digits_gan", "trainer.max_epochs=4"), "plain_gan"),
    "contrastive": Bench("experiment=mnist1d_simclr (1-D CNN, SimCLR views, NT-Xent), 4 epochs",
                         ("experiment=mnist1d_simclr", "trainer.max_epochs=4"), "plain_contrastive"),
    "recsys_mf": Bench("experiment=recsys model=mf optimizer=adam (implicit MF, 4 sampled negatives), 15 epochs",
                       ("experiment=recsys", "model=mf", "optimizer=adam", "trainer.max_epochs=15"), "plain_recsys"),
    "recsys_bpr": Bench("experiment=recsys model=bpr optimizer=adam (BPR, sampled negatives), 25 epochs",
                        ("experiment=recsys", "model=bpr", "optimizer=adam", "trainer.max_epochs=25"), "plain_recsys"),
}


def compose(name: str, threads: str, device: str, extra=()):
    from nnml.config.compose import compose_train

    return compose_train([*TASKS[name].overrides, f"trainer.num_threads={threads}", f"trainer.device={device}",
                          f"seed={SEED}", *extra])


def digest(module) -> str:
    """The module's weights and buffers, bit for bit."""
    h = hashlib.sha1()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- the nnml side
def run_nnml(name: str, threads: str, device: str = "cpu", extra=()) -> dict:
    """One run of ``nnml.run.train.train`` on the task's preset, timed by nnml itself (metrics.json's
    ``train_time_s`` and ``train_samples``)."""
    import torch

    from nnml.config.targets import Trust
    from nnml.engine.callbacks import Callback
    from nnml.run.train import RunContext, train

    class Probe(Callback):
        def on_fit_start(self, state):
            torch.manual_seed(SEED)  # the plain side seeds here too: the same dropout, noise and negatives
            self.ends = [state.train_time_s]

        def on_epoch_end(self, state, metrics):
            self.ends.append(state.train_time_s)  # the loop's own clock: training steps up to the epoch's read

        def on_fit_end(self, state):  # before the best weights are loaded back: the weights training ended with
            self.steps, self.samples, self.train_s = state.global_step, state.train_samples, state.train_time_s
            self.digest = digest(state.info["model_ref"])
            self.threads = torch.get_num_threads()

    probe = Probe()
    cfg = compose(name, threads, device, extra)
    from bench import epoch_cpu_time

    with epoch_cpu_time() as cpu, tempfile.TemporaryDirectory(prefix="nnml-bench-") as d:
        train(cfg, RunContext(run_dir=Path(d), trust=Trust.own(cfg)), callbacks=[probe], quiet=True)
    return {"steps": probe.steps, "samples": probe.samples, "train_time_s": probe.train_s,
            "samples_per_s": probe.samples / probe.train_s, "cpu_time_s": cpu[0], "cpu_samples_per_s":
            probe.samples / cpu[0], "digest": probe.digest, "threads": probe.threads,
            "epoch_ms": steady_epoch_ms([b - a for a, b in zip(probe.ends, probe.ends[1:])])}


# ----------------------------------------------------------------------------- the plain side
def build_like_nnml(name: str, threads: str, device: str, run_dir: Path, extra=()):
    """The task's modules, optimizer slots and training batch source, built by nnml's builders in the order
    ``nnml.run.train.train`` builds them (so the same weights and data); nothing of the loop."""
    import importlib

    import torch

    from nnml.config.seeds import data_seed
    from nnml.config.targets import Trust
    from nnml.run.build import Builder, build_data, build_task, resolve_monitor
    from nnml.run.train import seed_everything

    cfg = compose(name, threads, device, extra)
    trust = Trust.own(cfg)
    seed_everything(SEED)
    dev = torch.device(device)
    data = build_data(cfg.dataset, seed=data_seed(cfg), trust=trust)
    task = build_task(cfg, data, trust)
    _, mode = resolve_monitor(cfg.trainer, task)
    builder = Builder(cfg, data, dev, seed=SEED, trust=trust, run_dir=run_dir, monitor_mode=mode)
    source = task.batches("train", builder)
    builder.steps_per_epoch = source.batches_per_epoch(1)
    torch.manual_seed(SEED)
    task.setup(builder)
    importlib.import_module("torch._dynamo")  # what the first optimizer.step() imports; nnml does it untimed too
    return cfg, task, source, dev


def run_plain(name: str, threads: str, device: str = "cpu", extra=()) -> dict:
    """One run of the task's hand-written loop, timed per epoch like nnml's loop."""
    import torch

    if threads != "auto":
        torch.set_num_threads(int(threads))
    with tempfile.TemporaryDirectory(prefix="nnml-bench-plain-") as d:
        cfg, task, source, dev = build_like_nnml(name, threads, device, Path(d), extra)
        initial = digest(task.modules[task.primary])
        for m in task.modules.values():
            m.train()
        epoch_fn = globals()[TASKS[name].plain](task, source, dev)
        steps = samples = 0
        train_s = cpu_s = 0.0
        epoch_s = []
        torch.manual_seed(SEED)
        for epoch in range(int(cfg.trainer.max_epochs)):
            c0, t0 = time.process_time(), time.perf_counter()
            n_steps, n_samples = epoch_fn(epoch)
            sync(dev)
            epoch_s.append(time.perf_counter() - t0)
            train_s += epoch_s[-1]
            cpu_s += time.process_time() - c0
            steps += n_steps
            samples += n_samples
            if hasattr(epoch_fn, "after"):  # the loop's untimed work between epochs (validation), where it has any
                epoch_fn.after(epoch)
            for slot in task.slots.values():  # epoch schedulers step after the epoch, untimed, as in nnml
                if slot.scheduler is not None and slot.interval == "epoch":
                    slot.scheduler.step()
        return {"steps": steps, "samples": samples, "train_time_s": train_s, "samples_per_s": samples / train_s,
                "cpu_time_s": cpu_s, "cpu_samples_per_s": samples / cpu_s, "threads": torch.get_num_threads(),
                "digest": digest(task.modules[task.primary]), "initial_digest": initial,
                "epoch_ms": steady_epoch_ms(epoch_s)}


def steady_epoch_ms(seconds: list[float]) -> float:
    """The median training time of an epoch after the first two (which warm the allocator, the caches and lazy
    imports), in ms: the steady pace of a run, less moved by one slow epoch than its throughput."""
    rest = seconds[2:] or seconds
    return round(statistics.median(rest) * 1e3, 3)


def _shuffled(source, epoch: int):
    """The epoch's order of in-memory data: a permutation from a generator seeded by (seed, epoch), what nnml
    draws too (a hand-written loop would call torch.randperm(n) the same way)."""
    import torch

    n = source.num_samples
    return torch.randperm(n, generator=torch.Generator().manual_seed(source.seed * 1_000_003 + epoch)).to(
        source.tensors[0].device)


def _sched(slot):
    """The scheduler the plain loop steps after every optimizer step (OneCycle), or None."""
    return slot.scheduler if slot.scheduler is not None and slot.interval == "step" else None


def plain_supervised(task, source, dev):
    import torch

    model, opt = task.modules["model"], task.slots["model"].optimizer
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = source.tensors
    bs = source.batch_size

    xv, yv = task.data.x_val.to(dev), task.data.y_val.to(dev)
    best = {"acc": -1.0, "state": None}

    def epoch(e):
        perm = _shuffled(source, e)
        n = len(perm)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return -(-n // bs), n

    @torch.inference_mode()
    def validate(e):
        # what a hand-written loop does between epochs, and nnml does by default: validation accuracy, keeping the
        # best weights (untimed on both sides; dropout is off in eval mode, so no random draws are spent here)
        model.eval()
        acc = (model(xv).argmax(1) == yv).float().mean().item()
        model.train()
        if acc > best["acc"]:
            best["acc"], best["state"] = acc, {k: v.detach().clone() for k, v in model.state_dict().items()}

    epoch.after = validate
    return epoch


def plain_segmentation(task, source, dev):
    slot = task.slots["model"]
    model, opt, sched, loss_fn, augment = task.modules["model"], slot.optimizer, _sched(slot), task.loss, task.augment
    x, y = source.tensors
    bs = source.batch_size

    def epoch(e):
        perm = _shuffled(source, e)
        n = len(perm)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = x[idx], y[idx]
            if not augment.identity:  # the preset turns the paired augmentations off
                xb, yb = augment(xb, yb)
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        return -(-n // bs), n

    return epoch


def plain_translation(task, source, dev):
    import torch
    import torch.nn.functional as F

    from nnml.tasks.text.tokenizers import PAD_ID

    slot = task.slots["model"]
    model, opt, clip = task.modules["model"], slot.optimizer, slot.grad_clip
    params = list(model.parameters())

    def epoch(e):
        steps = n = 0
        for b in source.epoch(e):  # the dataset's length-bucketed batches, the same ones nnml draws
            src, tgt = b["src"], b["tgt"]
            logits = model(src, tgt[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1), ignore_index=PAD_ID,
                                   label_smoothing=task.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            steps += 1
            n += src.shape[0]
        return steps, n

    return epoch


def plain_tagging(task, source, dev):
    import torch

    from nnml.tasks.text.tokenizers import UNK_ID

    slot = task.slots["model"]
    model, opt, clip, p_drop = task.modules["model"], slot.optimizer, slot.grad_clip, task.word_dropout
    params = list(model.parameters())
    chars = getattr(model, "uses_chars", False)

    def epoch(e):
        steps = n = 0
        for b in source.epoch(e):
            words = b["words"]
            mask = torch.arange(words.shape[1], device=words.device)[None] < b["len"][:, None]
            drop = (torch.rand(words.shape, device=words.device) < p_drop) & mask  # word dropout
            words = torch.where(drop, torch.full_like(words, UNK_ID), words)
            loss = model.loss(model(words, b["chars"] if chars else None), b["tags"].clamp(min=0), mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            steps += 1
            n += words.shape[0]
        return steps, n

    return epoch


def plain_text_classification(task, source, dev):
    import torch

    model, opt = task.modules["model"], task.slots["model"].optimizer
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(e):
        steps = n = 0
        for x, y in source.epoch(e):
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            n += x.shape[0]
        return steps, n

    return epoch


def plain_vae(task, source, dev):
    from nnml.tasks.generative.losses import vae_terms

    model, opt = task.modules["model"], task.slots["model"].optimizer
    x_all = source.tensors[0]
    bs, per_epoch = source.batch_size, source.batches_per_epoch()
    beta, warmup = task.beta, task.kl_warmup_epochs
    step = [0]

    def epoch(e):
        perm = _shuffled(source, e)
        n = len(perm)
        for i in range(0, n, bs):
            x = x_all[perm[i:i + bs]]
            # KL warm-up: the weight rises linearly over the first epochs (counted in steps)
            w = beta * min(1.0, (step[0] / per_epoch + 1 / per_epoch) / warmup) if warmup > 0 else beta
            t = vae_terms(model, x)
            loss = (t["rec"] + w * t["kl"]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step[0] += 1
        return -(-n // bs), n

    return epoch


def plain_gan(task, source, dev):
    import torch
    import torch.nn.functional as F

    gen, disc = task.modules["generator"], task.modules["discriminator"]
    opt_g, opt_d = task.slots["generator"].optimizer, task.slots["discriminator"].optimizer
    assert task.loss == "ns" and task.n_critic == 1 and not task.ema_decay, "the plain GAN loop is the preset's"
    x_all = source.tensors[0]
    bs, latent = source.batch_size, task.latent_dim

    def epoch(e):
        perm = _shuffled(source, e)
        n = len(perm)
        for i in range(0, n, bs):
            x = x_all[perm[i:i + bs]]
            z = torch.randn(len(x), latent, device=x.device)
            fake = gen(z).detach()
            d_loss = F.softplus(-disc(x)).mean() + F.softplus(disc(fake)).mean()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            z = torch.randn(len(x), latent, device=x.device)
            g_loss = F.softplus(-disc(gen(z))).mean()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        return -(-n // bs), n

    return epoch


def plain_contrastive(task, source, dev):
    import torch

    from nnml.tasks.representation.losses import nt_xent

    assert task.method == "simclr", "the plain loop is the preset's SimCLR"
    enc, proj, opt = task.modules["encoder"], task.modules["projector"], task.slots["main"].optimizer
    views, temperature = task.views, task.temperature
    x_all = source.tensors[0]
    bs = source.batch_size

    def epoch(e):
        perm = _shuffled(source, e)
        n = len(perm)
        for i in range(0, n, bs):
            x = x_all[perm[i:i + bs]]
            v1, v2 = views.pair(x)
            z = proj(enc(torch.cat([v1, v2])))
            loss = nt_xent(z[:len(x)], z[len(x):], temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return -(-n // bs), n

    return epoch


def plain_recsys(task, source, dev):
    import torch

    model, opt = task.modules["model"], task.slots["model"].optimizer
    users_all, items_all = source.tensors[source.keys.index("users")], source.tensors[source.keys.index("items")]
    bs, n_items, kind = source.batch_size, task.data.meta["num_items"], task.kind
    assert kind in ("mf", "bpr") and not task.explicit, "the plain loop is the implicit-feedback MF / BPR"

    def epoch(e):
        perm = _shuffled(source, e)
        n = len(perm)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            users, items = users_all[idx], items_all[idx]
            if kind == "bpr":
                loss = model.loss(users, items, torch.randint(0, n_items, items.shape, device=items.device))
            else:  # positives 1 against `negatives` sampled items 0 per positive
                r = model.negatives
                neg = torch.randint(0, n_items, (len(users) * r,), device=items.device)
                target = torch.cat([torch.ones(len(users), device=items.device),
                                    torch.zeros(len(neg), device=items.device)])
                loss = model.loss(torch.cat([users, users.repeat(r)]), torch.cat([items, neg]), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return -(-n // bs), n

    return epoch


# ----------------------------------------------------------------------------- the race
def worker(name: str, side: str, threads: str, device: str, extra=()) -> dict:
    run = run_nnml if side == "nnml" else run_plain
    t0 = time.perf_counter()
    out = run(name, threads, device, extra)
    out["process_s"] = time.perf_counter() - t0
    return out


def spawn(name: str, side: str, threads: str, device: str, extra=()) -> dict:
    """One side of one task in a fresh python process; its last stdout line is the run's JSON."""
    env = dict(os.environ)
    if threads == "auto":  # nnml's auto and torch's default, neither told by the environment
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(k, None)
    cmd = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--suite", "tasks", "--worker", name, "--side", side,
           "--thread-mode", threads, "--device", device, *(f"--override={o}" for o in extra)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        raise SystemExit(f"{name} ({side}, threads {threads}) failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def summarize(nnml_runs: list[dict], plain_runs: list[dict]) -> dict:
    from bench import paired_ratio

    same = [a["digest"] == b["digest"] for a, b in zip(nnml_runs, plain_runs)]
    steps = {(a["steps"], a["samples"], b["steps"], b["samples"]) for a, b in zip(nnml_runs, plain_runs)}
    ratio, ratios = paired_ratio(nnml_runs, plain_runs)
    cpu_ratio, cpu_ratios = paired_ratio(nnml_runs, plain_runs, "cpu_samples_per_s")
    return {
        "ratio": ratio,
        # the same from CPU seconds of the timed region (this process's threads): on a machine other processes
        # load, the wall clock counts time spent waiting for a core, the CPU clock much less of it
        "cpu_ratio": cpu_ratio,
        "cpu_ratios_all": cpu_ratios,
        "nnml_sps": round(statistics.median(r["samples_per_s"] for r in nnml_runs), 1),
        "plain_sps": round(statistics.median(r["samples_per_s"] for r in plain_runs), 1),
        "ratios_all": ratios,
        "nnml_sps_all": [round(r["samples_per_s"], 1) for r in nnml_runs],
        "plain_sps_all": [round(r["samples_per_s"], 1) for r in plain_runs],
        "nnml_train_s": round(statistics.median(r["train_time_s"] for r in nnml_runs), 4),
        # steady epochs (the first two left out): the median over pairs of plain's epoch time over nnml's
        "epoch_ratio": paired_ratio(plain_runs, nnml_runs, "epoch_ms")[0],
        "nnml_epoch_ms": round(statistics.median(r["epoch_ms"] for r in nnml_runs), 3),
        "plain_epoch_ms": round(statistics.median(r["epoch_ms"] for r in plain_runs), 3),
        "threads": {"nnml": sorted({r["threads"] for r in nnml_runs}), "plain": sorted({r["threads"] for r in plain_runs})},
        # the same steps and samples on both sides, and (at one thread) bit-identical final weights
        "steps": nnml_runs[0]["steps"], "samples": nnml_runs[0]["samples"], "same_work": len(steps) == 1 and all(
            a["steps"] == b["steps"] and a["samples"] == b["samples"] for a, b in zip(nnml_runs, plain_runs)),
        "same_weights": sum(same) / len(same),
    }


def race(names: list[str], modes: list[str], pairs: int, device: str, extra=()) -> dict:
    from bench import alternate

    runs = {m: {n: ([], []) for n in names} for m in modes}
    for r in range(pairs):
        for mode in modes:
            for name in names:
                a, b = alternate(lambda: spawn(name, "nnml", mode, device, extra),
                                 lambda: spawn(name, "plain", mode, device, extra), 1, first=r)
                runs[mode][name][0].extend(a)
                runs[mode][name][1].extend(b)
                print(f"pair {r + 1}/{pairs} threads {mode:4s} {name:22s} nnml {a[0]['samples_per_s']:10,.0f}  plain "
                      f"{b[0]['samples_per_s']:10,.0f} samples/s  ratio {a[0]['samples_per_s'] / b[0]['samples_per_s']:.3f}"
                      f"  cpu ratio {a[0]['cpu_samples_per_s'] / b[0]['cpu_samples_per_s']:.3f}"
                      f"  steady epoch ratio {b[0]['epoch_ms'] / a[0]['epoch_ms']:.3f}"
                      f"{'' if a[0]['digest'] == b[0]['digest'] else '  (weights differ)'}", file=sys.stderr, flush=True)
    tasks = {}
    for name in names:
        by = {m: summarize(*runs[m][name]) for m in modes}
        worst = min(modes, key=lambda m: by[m]["ratio"])
        tasks[name] = {"ratio": by[worst]["ratio"], "cpu_ratio": by[worst]["cpu_ratio"],
                       "epoch_ratio": by[worst]["epoch_ratio"], "nnml_sps": by[worst]["nnml_sps"],
                       "plain_sps": by[worst]["plain_sps"], "threads": worst, "by_threads": by}
    return tasks


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench.py --suite tasks", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--suite", default="tasks", choices=["tasks"])
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated, from: " + ", ".join(TASKS))
    p.add_argument("--pairs", type=int, default=5, help="alternating nnml/plain pairs per task and thread setting")
    p.add_argument("--threads-modes", default="1,auto", help="1 (one torch thread each) and/or auto")
    p.add_argument("--device", default="cpu")
    p.add_argument("--override", action="append", default=[],
                   help="an nnml override for both sides' config (the plain loop is built from it too), e.g. "
                        "trainer.train_metrics=false; repeatable")
    p.add_argument("--list", action="store_true", help="name every task and what it runs, then stop")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--worker", choices=list(TASKS), help=argparse.SUPPRESS)
    p.add_argument("--side", choices=["nnml", "plain"], help=argparse.SUPPRESS)
    p.add_argument("--thread-mode", default="1", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.side, args.thread_mode, args.device, args.override)))
        return None
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    bad = [n for n in names if n not in TASKS]
    modes = [m.strip() for m in args.threads_modes.split(",") if m.strip()]
    if bad or any(m != "auto" and not m.isdigit() for m in modes):
        raise SystemExit(f"--tasks: choose from {', '.join(TASKS)}; --threads-modes: 1, auto or a number")
    if args.list:
        for n in names:
            print(f"{n:22s} {TASKS[n].what}\n{'':22s} nnml train {' '.join(TASKS[n].overrides)}")
        print(json.dumps({"tasks": {n: {"what": TASKS[n].what, "overrides": list(TASKS[n].overrides)} for n in names}}))
        return None
    import torch

    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    load_before = loadavg()
    tasks = race(names, modes, args.pairs, args.device, args.override)
    result = {"tasks": tasks, "conditions": {
        "started": started, "machine": platform.node(), "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
        "device": args.device, "pairs": args.pairs, "threads_modes": modes, "overrides": args.override,
        "loadavg_before": load_before,
        "loadavg_after": loadavg()}}
    text = json.dumps(result)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    return result
