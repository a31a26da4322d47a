"""examples/quickstart.ipynb runs as shipped (nbclient, a fresh kernel, in a temp folder) and shows what it says:
the default MLP's test accuracy after 3 epochs, its history, predictions on five rows and the two runs compared."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append((out.get("data") or {}).get("text/plain", ""))
    return "".join(parts)


@pytest.mark.slow
def test_the_quickstart_notebook_runs(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    nb = nbformat.read(tmp_path / NOTEBOOK.name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "ship the notebook without outputs"
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert _text(code[0]).count("Results") == 1  # the run's table, shown once
    acc = float(re.search(r"test accuracy (\d\.\d+)", _text(code[1])).group(1))
    assert acc > 0.8
    history = _text(code[2])
    assert "val/acc" in history and len(re.findall(r"^\d\s+[123]\s", history, re.M)) == 3
    predicted = _text(code[3])
    assert predicted.count("row 17") == 5  # rows 1792-1796, each with its label, probability and true digit
    compared = _text(code[4])
    assert "[256, 256]" in compared and "[32]" in compared and "rank" in compared
    assert len(list((tmp_path / "outputs" / "train" / "runs").iterdir())) == 2
