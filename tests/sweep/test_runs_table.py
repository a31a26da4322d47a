"""nnml compare's table in a narrow terminal: results first, hyperparameters as far as they fit, the run always."""

from __future__ import annotations


def test_a_table_too_wide_keeps_results_and_run_and_names_what_it_left_out():
    from rich.console import Console

    from nnml.sweep.runs import rich_table

    rows = [{"rank": i, **{f"group{j}.some_long_key": f"value-{i}-{j}" for j in range(8)}, "val/acc": 0.9 - i / 100,
             "test/acc": 0.88, "epochs": 30, "status": "ok", "run": f"2026-12-03_08-0{i}-00"} for i in range(1, 4)]
    table = rich_table(rows, "3 runs", width=100)
    console = Console(width=100, record=True)
    console.print(table)
    text = console.export_text()
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines)
    header = next(line for line in lines if "rank" in line)
    assert header.index("val/acc") < header.index("status") < header.index("group0.some_long_key") < header.index("run")
    assert "2026-12-03_08-01-00" in text and "0.89" in text and "0.88" in text  # the run and the metrics
    assert "not shown, for width: " in text and "group7.some_long_key" in text.split("not shown")[1]
    assert len([line for line in lines if line.startswith("│")]) == 3
    wide = Console(width=1000, record=True)
    wide.print(rich_table(rows, "3 runs", width=1000))
    assert "not shown" not in wide.export_text()
