"""Run the chosen acceleration methods on one trained model, measure every variant the same way, and return the
rows of the report.

The runner knows nothing of run folders or configs: it gets the model, an ``evaluate(module) -> metrics``
callback (the run's own test evaluation), input batches and a fine-tuning callback (:mod:`nnml.accelerate.run`
builds these from a run folder). A method that does not apply raises :class:`Skip`; its row says why and the
other methods go on. Every variant's test metric is checked against the original's
(:mod:`nnml.accelerate.verdict`): within the tolerance it is ``ok`` and usable, beyond it ``degraded``. Latency is measured for all variants together at the end, interleaved (see
:mod:`nnml.accelerate.measure`), with ``torch.set_num_threads(threads)`` fixed and stated.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from nnml.accelerate import measure
from nnml.accelerate.artifacts import write_meta
from nnml.accelerate.methods import METHODS
from nnml.accelerate.variant import MethodContext, Skip, Variant

#: statuses of variants that were made and are measured (timed, sized); skipped and failed ones are not
MEASURED = ("ok", "degraded", "unchecked")


def _machine(threads: int) -> dict:
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"threads": threads, "cpus": os.cpu_count(), "load_1min": round(load[0], 2),
            "cpu": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "platform": platform.platform(terse=True)}


def accelerate(model: nn.Module, *, evaluate: Callable[[nn.Module], dict], example: torch.Tensor,
               calibration: Callable[[], list[torch.Tensor]], out_dir: Path, methods: list[str],
               metric: str, direction: str = "max", finetune=None, no_finetune: str = "",
               num_outputs: int | None = None, threads: int = 1, batch: int = 64, repeats: int = 50, warmup: int = 5,
               options: dict | None = None, tolerance=None, n_test: int | None = None,
               log: Callable[[str], None] = print) -> dict:
    """Returns the report: ``{"rows": [...], "usable": [...], "degraded": [...], "tolerance": {...}, "machine":
    {...}, "metric", "direction", "batch", "repeats"}``. ``tolerance``: a
    :class:`~nnml.accelerate.verdict.Tolerance` (default 1 point or 2%); ``n_test``: test samples (for the
    standard error the report states); ``no_finetune``: why ``finetune`` is None, for the notes."""
    from nnml.accelerate import verdict

    tolerance = tolerance or verdict.Tolerance.parse(None)
    torch.set_num_threads(int(threads))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    example = example.cpu()
    load_before = _machine(threads)

    original_dir = out_dir / "original"
    original_dir.mkdir(exist_ok=True)
    torch.save(model.state_dict(), original_dir / "model.pt")
    write_meta(original_dir, "original")
    variants: list[Variant] = [Variant("original", model, float_model=model, files=[original_dir / "model.pt"])]
    rows: dict[str, dict] = {"original": {"variant": "original", "status": "ok", "seconds": 0.0}}
    for name in methods:
        fn = METHODS[name][0]
        folder = out_dir / name
        if folder.exists():
            shutil.rmtree(folder)  # a rerun replaces the variant, never mixes old files into it
        folder.mkdir()
        ctx = MethodContext(example=example, calibration=calibration, out_dir=folder, finetune=finetune,
                            no_finetune=no_finetune, num_outputs=num_outputs, options=dict(options or {}))
        t0 = time.perf_counter()
        try:
            v = fn(model, ctx)
        except Skip as e:
            log(f"{name}: skipped: {e}")
            rows[name] = {"variant": name, "status": "skipped", "reason": str(e)}
            shutil.rmtree(folder, ignore_errors=True)
            continue
        except Exception as e:  # a bug or an unforeseen model: one line, and the other methods still run
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
            log(f"{name}: failed: {type(e).__name__}: {first}")
            rows[name] = {"variant": name, "status": "failed", "reason": f"{type(e).__name__}: {first}"}
            shutil.rmtree(folder, ignore_errors=True)
            continue
        seconds = time.perf_counter() - t0
        write_meta(folder, name, notes=v.notes, loadable=v.loadable, **v.extra)
        variants.append(v)
        rows[name] = {"variant": name, "status": "ok", "seconds": round(seconds, 2)}
        log(f"{name}: done in {seconds:.1f} s ({'; '.join(v.notes)})")

    x1 = measure.batch_of(example, 1)
    xb = measure.batch_of(example, batch)
    base_flops = None
    for v in variants:
        row = rows[v.name]
        with torch.inference_mode():
            metrics = evaluate(v.module)
        row["metrics"] = metrics
        row["metric"] = metrics.get(metric)
        row["size_bytes"] = measure.file_size(v.files) if v.files else None
        row.update(measure.count_parameters(v.float_model or v.module))
        flops = measure.count_flops(v.float_model or v.module, x1)
        base_flops = flops if base_flops is None else base_flops
        row["macs"] = flops // 2
        row["notes"] = "; ".join(v.notes)
        row["artifact"] = f"accelerated/{v.name}" if v.files else None
        row["loadable"] = v.loadable and bool(v.files)
        row.update({k: v.extra[k] for k in ("max_abs_diff", "float_layers") if k in v.extra})
        if v.name != "original":
            verdict.judge(row, rows["original"].get("metric"), metric, direction, tolerance)
            if row["status"] != "ok":
                log(f"{v.name}: {row['status']}: {row['verdict']}")
        else:
            row["usable"] = True

    log(f"timing {len(variants)} variants: {repeats} runs each at batch 1 and {batch}, "
        f"{warmup} warm-up, {threads} thread(s)")
    for size, x in ((1, x1), (batch, xb)):
        runners = {}
        for v in variants:
            if rows[v.name]["status"] not in MEASURED:
                continue
            try:  # a variant that cannot run this input fails alone; the others are still timed
                with torch.inference_mode():
                    v.module(x)
            except Exception as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                rows[v.name].update(status="failed", usable=False,
                                    reason=f"timing at batch {size}: {type(e).__name__}: {first}")
                log(f"{v.name}: failed while timing at batch {size}: {first}")
                continue
            runners[v.name] = (lambda m=v.module, inp=x: m(inp))
        stats = measure.latencies(runners, repeats=repeats, warmup=warmup)
        for name, s in stats.items():
            rows[name][f"latency_b{size}"] = s
            if size == batch:
                rows[name]["throughput"] = batch * 1000.0 / s["median_ms"]

    base = rows["original"]
    for row in rows.values():
        if row["status"] not in MEASURED:
            continue
        if base.get("size_bytes") and row.get("size_bytes"):
            row["size_ratio"] = base["size_bytes"] / row["size_bytes"]
        if row.get("macs"):
            row["macs_ratio"] = base["macs"] / row["macs"]
        if row.get("metric") is not None and base.get("metric") is not None:
            row["metric_change"] = row["metric"] - base["metric"]
        b, o = row.get(f"latency_b{batch}"), base.get(f"latency_b{batch}")
        if b and o:
            row["speedup"] = o["median_ms"] / b["median_ms"]
    machine = _machine(threads)
    machine["load_1min_before"] = load_before["load_1min"]
    ordered = [rows["original"], *(rows[m] for m in methods)]
    for row in ordered:
        row.setdefault("usable", False)
    original = base.get("metric")
    return {"rows": ordered, "metric": metric, "direction": direction, "batch": batch, "repeats": repeats,
            "warmup": warmup, "machine": machine, "tolerance": tolerance.as_dict(),
            "usable": [r["variant"] for r in ordered[1:] if r["usable"]],
            "degraded": [r["variant"] for r in ordered if r["status"] == "degraded"],
            "n_test": n_test, "standard_error": verdict.standard_error(original, n_test, direction)}
