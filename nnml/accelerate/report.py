"""The report of ``nnml accelerate``: one table, printed with rich and saved as ``report.json`` and ``report.md``
in ``RUN_DIR/accelerated/``, plus ``tradeoff.png`` (test metric against latency at the larger batch). The status
column says whether each variant is usable (``ok``: within the tolerance of the original's test metric) or
``degraded``; the lines under the table name both groups (:func:`verdict_lines`)."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = ["variant", "status", "size", "x smaller", "params", "MACs", "x fewer MACs", "b1 ms (p95)",
           "bN ms (p95)", "bN CPU ms", "throughput/s", "metric", "change", "notes"]


def _num(n) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def _size(b) -> str:
    if not b:
        return "-"
    return f"{b / 1024:.1f} KB" if b < 1 << 20 else f"{b / (1 << 20):.2f} MB"


def _lat(s) -> str:
    return f"{s['median_ms']:.3f} ({s['p95_ms']:.3f})" if s else "-"


def _cpu(s) -> str:
    return f"{s['cpu_median_ms']:.3f}" if s and "cpu_median_ms" in s else "-"


def cells(row: dict, batch: int) -> list[str]:
    if row["status"] not in ("ok", "degraded", "unchecked"):
        return [row["variant"], row["status"], *["-"] * 11, row.get("reason", "")]
    params = _num(row.get("params"))
    if row.get("nonzero") is not None and row.get("params") and row["nonzero"] < 0.95 * row["params"]:
        params += f" ({_num(row['nonzero'])} nonzero)"
    metric = row.get("metric")
    change = row.get("metric_change")
    return [row["variant"], row["status"], _size(row.get("size_bytes")),
            f"{row['size_ratio']:.2f}" if row.get("size_ratio") else "-", params, _num(row.get("macs")),
            f"{row['macs_ratio']:.2f}" if row.get("macs_ratio") else "-", _lat(row.get("latency_b1")),
            _lat(row.get(f"latency_b{batch}")), _cpu(row.get(f"latency_b{batch}")),
            f"{row['throughput']:.0f}" if row.get("throughput") else "-",
            "-" if metric is None else f"{metric:.4f}", "-" if change is None else f"{change:+.4f}",
            row.get("notes", "")]


def header(report: dict) -> list[str]:
    b = report["batch"]
    cols = list(COLUMNS)
    cols[8] = f"b{b} ms (p95)"
    cols[9] = f"b{b} CPU ms"
    cols[10] = f"throughput/s (b{b})"
    cols[11] = f"test {report['metric']}"
    return cols


def caption(report: dict) -> str:
    m = report["machine"]
    return (f"{m['threads']} thread(s) of {m['cpus']} CPUs ({m['cpu']}), load average {m['load_1min_before']} "
            f"before / {m['load_1min']} after; latency: median and p95 of {report['repeats']} runs after "
            f"{report['warmup']} warm-up, interleaved; CPU ms: median process CPU time per call; MACs per sample; size: the artifact on disk; torch "
            f"{m['torch']}")


def verdict_lines(report: dict) -> list[str]:
    """Which variants are usable and which are degraded, against what, with the uncertainty of the comparison."""
    rows = {r["variant"]: r for r in report["rows"]}
    original = rows.get("original", {}).get("metric")
    tol = (report.get("tolerance") or {}).get("text", "1pt,2%")
    metric = report["metric"]
    base = f"the original's test {metric} {original:.4f}" if original is not None else f"the original's test {metric}"
    se = report.get("standard_error")
    if se is not None:
        base += f" (binomial standard error of a fraction over {report.get('n_test')} test samples: {se:.4f})"
    usable = report.get("usable") or []
    lines = [f"usable (losing at most {tol} of {base}): {', '.join(usable) or 'none'}"]
    degraded = [r for r in report["rows"] if r["status"] == "degraded"]
    if degraded:
        lines.append("degraded (do not use): " + ", ".join(
            f"{r['variant']} ({-r['metric_loss']:+.4f})" for r in degraded))
    unchecked = [r["variant"] for r in report["rows"] if r["status"] == "unchecked"]
    if unchecked:
        lines.append(f"unchecked (no test {metric}): {', '.join(unchecked)}")
    return lines


def markdown(report: dict) -> str:
    cols = header(report)
    lines = [f"| {' | '.join(cols)} |", f"|{'|'.join('---' for _ in cols)}|"]
    for row in report["rows"]:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells(row, report["batch"])) + " |")
    return "\n".join(lines) + f"\n\n{caption(report)}\n\n" + "\n".join(f"- {v}" for v in verdict_lines(report)) + "\n"


def rich_table(report: dict):
    """(the report as a rich Table, the notes that go below it: as a column they make it too wide to read)."""
    from rich.table import Table

    table = Table(title="nnml accelerate", caption=caption(report))
    for c in header(report)[:-1]:
        table.add_column(c, overflow="fold")
    notes = []
    for row in report["rows"]:
        style = {"ok": None, "degraded": "red"}.get(row["status"], "dim")
        table.add_row(*cells(row, report["batch"])[:-1], style=style)
        note = cells(row, report["batch"])[-1]
        if note:
            notes.append(f"  {row['variant']}: {note}")
    return table, notes


def tradeoff_figure(report: dict):
    """Test metric against median latency at the larger batch (p95 as the error bar), one labelled point per
    variant: the frontier a report discusses."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    b = report["batch"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for row in report["rows"]:
        lat = row.get(f"latency_b{b}")
        if row["status"] not in ("ok", "degraded") or not lat or row.get("metric") is None:
            continue
        med = lat["median_ms"]
        # a legend rather than labels at the points: variants of equal accuracy sit on one line and overlap
        ax.errorbar([med], [row["metric"]], xerr=[[med - lat["min_ms"]], [lat["p95_ms"] - med]],
                    fmt="o" if row["status"] == "ok" else "x", capsize=3, alpha=0.85,
                    label=row["variant"] + (" (degraded)" if row["status"] == "degraded" else ""))
    ax.set_xscale("log")
    ax.set_xlabel(f"latency at batch {b}, ms (median; bars: min to p95), {report['machine']['threads']} thread(s)")
    ax.set_ylabel(f"test {report['metric']}")
    ax.set_title("accuracy / latency trade-off")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def write(report: dict, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    (out_dir / "report.md").write_text(markdown(report))
    fig = tradeoff_figure(report)
    fig.savefig(out_dir / "tradeoff.png", dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return [out_dir / "report.json", out_dir / "report.md", out_dir / "tradeoff.png"]
