"""The runner on a plain model: every variant measured the same way, a method that does not apply skipped with
one line while the others run, the report written as JSON, Markdown and PNG, artifacts that rebuild."""

from __future__ import annotations

import json

import pytest
import torch

from nnml.accelerate import report
from nnml.accelerate.artifacts import load_variant
from nnml.accelerate.runner import accelerate
from tests.accelerate.helpers import accuracy, train


def test_runner_reports_every_variant_and_skips_with_a_reason(mlp, digits_data, tmp_path):
    d = digits_data
    lines = []
    out = tmp_path / "accelerated"
    r = accelerate(mlp, evaluate=lambda m: {"acc": accuracy(m, d.x_test, d.y_test)}, example=d.x_test[:64],
                   calibration=lambda: [d.x_train[:128]], out_dir=out,
                   methods=["int8_dynamic", "int8_static", "prune_structured"], metric="acc",
                   finetune=lambda m, ep: train(m, d.x_train, d.y_train, ep), num_outputs=10, threads=1, batch=16,
                   repeats=6, warmup=1, options={"finetune_epochs": 1}, log=lines.append)
    rows = {row["variant"]: row for row in r["rows"]}
    assert list(rows) == ["original", "int8_dynamic", "int8_static", "prune_structured"]
    assert rows["int8_static"]["status"] == "skipped"
    assert [ln for ln in lines if "skipped" in ln] == [
        "int8_static: skipped: the model has no convolution layers (static int8 here is for conv models; "
        "int8_dynamic quantizes linear layers)"]
    assert rows["original"]["metric"] == accuracy(mlp, d.x_test, d.y_test) and rows["original"]["metric_change"] == 0
    for name in ("original", "int8_dynamic", "prune_structured"):
        row = rows[name]
        assert row["status"] == "ok" and row["latency_b1"]["n"] == 6 and row["latency_b16"]["n"] == 6
        assert row["throughput"] > 0 and row["size_bytes"] == (out / name / "model.pt").stat().st_size
    assert rows["prune_structured"]["macs"] < rows["original"]["macs"] == rows["int8_dynamic"]["macs"]
    assert rows["int8_dynamic"]["size_ratio"] > 2

    files = report.write(r, out)
    assert json.loads(files[0].read_text())["rows"][2]["reason"].startswith("the model has no convolution")
    md = files[1].read_text()
    assert md.count("\n| ") == 4 and "| int8_static | skipped |" in md and "test acc" in md
    assert files[2].stat().st_size > 1000
    # each artifact rebuilds into the module that was measured
    for name in ("int8_dynamic", "prune_structured"):
        import copy

        rebuilt = load_variant(out / name, copy.deepcopy(mlp))
        assert accuracy(rebuilt, d.x_test, d.y_test) == rows[name]["metric"]


def test_rich_table_prints_notes_below(mlp, digits_data, tmp_path, capsys):
    d = digits_data
    r = accelerate(mlp, evaluate=lambda m: {"acc": accuracy(m, d.x_test, d.y_test)}, example=d.x_test[:8],
                   calibration=lambda: [d.x_train[:64]], out_dir=tmp_path, methods=["int8_static"], metric="acc",
                   repeats=2, warmup=0, batch=4, log=lambda s: None)
    from rich.console import Console

    console = Console(width=200, force_terminal=False)
    table, notes = report.rich_table(r)
    console.print(table)
    for line in notes:
        console.print(line)
    out = capsys.readouterr().out
    assert "int8_static: the model has no convolution layers" in out and "b4 ms (p95)" in out
    assert torch.get_num_threads() == 1


def test_a_variant_that_loses_accuracy_is_degraded_timed_and_named(mlp, digits_data, tmp_path, monkeypatch):
    """A method whose model is broken (its output layer zeroed: every prediction class 0) is made and measured but
    marked degraded, never ok; report.json and report.md say which variants are usable."""
    import copy

    from nnml.accelerate import methods
    from nnml.accelerate.variant import Variant

    def broken(model, ctx):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for p in list(m.parameters())[-2:]:  # the output layer's weight and bias
                p.zero_()
        path = ctx.out_dir / "model.pt"
        torch.save(m.state_dict(), path)
        return Variant("broken", m, float_model=m, files=[path], notes=["zeroed head"])

    monkeypatch.setitem(methods.METHODS, "broken", (broken, "a variant that lost its head"))
    d = digits_data
    r = accelerate(mlp, evaluate=lambda m: {"acc": accuracy(m, d.x_test, d.y_test)}, example=d.x_test[:16],
                   calibration=lambda: [d.x_train[:64]], out_dir=tmp_path, methods=["broken", "int8_dynamic"],
                   metric="acc", repeats=2, warmup=0, batch=4, n_test=len(d.x_test), log=lambda s: None)
    rows = {row["variant"]: row for row in r["rows"]}
    original = rows["original"]["metric"]
    assert rows["broken"]["metric"] == pytest.approx(float((d.y_test == 0).float().mean()))
    assert rows["broken"]["status"] == "degraded" and not rows["broken"]["usable"]
    assert rows["broken"]["notes"].startswith(f"DEGRADED: loses {original - rows['broken']['metric']:.4f} test acc")
    assert rows["broken"]["latency_b4"]["n"] == 2  # still measured, so the table can show what it would cost
    assert rows["int8_dynamic"]["status"] == "ok" and original - rows["int8_dynamic"]["metric"] <= 0.02
    assert r["usable"] == ["int8_dynamic"] and r["degraded"] == ["broken"]
    assert r["standard_error"] == pytest.approx((original * (1 - original) / len(d.x_test)) ** 0.5)
    files = report.write(r, tmp_path)
    assert json.loads(files[0].read_text())["degraded"] == ["broken"]
    md = files[1].read_text()
    assert "| broken | degraded |" in md and "- degraded (do not use): broken (" in md
    assert "- usable (losing at most 1pt,2% of the original's test acc" in md
