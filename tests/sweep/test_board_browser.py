"""nnml board in a real browser: scripts/board_check.py runs a small sweep, starts TensorBoard over it and drives
headless Chromium (through chromedriver, 127.0.0.1 only) to the page it opens on (the sweep's band charts) and
the HParams, Scalars and Custom Scalars pages.
Screenshots go to a temp folder, never into the repository. Skipped where Chromium is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")
def test_board_shows_what_the_sweep_varies(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "board_check.py"), "--shots", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    result = json.loads(r.stdout)
    assert r.returncode == 0 and result["ok"], result
    assert result["hparams_first_texts"][:2] in (["optimizer", "optimizer.lr"], ["optimizer.lr", "optimizer"])
    assert result["hparams_ticked"] == ["optimizer", "optimizer.lr", "seed"]  # what varies, nothing constant
    assert {p.name for p in tmp_path.glob("*.png")} == {"opens_on.png", "hparams.png", "scalars.png",
                                                        "custom_scalars.png"}
