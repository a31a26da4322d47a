"""Files of a user's own data that the tests write into a temp folder: scikit-learn's bundled wine and diabetes as
tables, its digits as PNG folders, tiny text and interaction files; and the real CLI run in this process."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

WINE_TARGET = "cultivar"
DIABETES_TARGET = "progression"


def wine_rows(missing_share: float = 0.0, level_column: bool = False, seed: int = 0):
    """(header, rows of cells as text, the row order's class ids) of the wine data: cells written with repr so
    they parse back to the same float; optionally a text column (alcohol's tercile: low/mid/high) and a share of
    feature cells emptied at random (the target is never emptied)."""
    from sklearn.datasets import load_wine

    b = load_wine()
    header = [n.replace("/", "_") for n in b.feature_names]
    cells = np.array([[repr(float(v)) for v in row] for row in b.data], dtype=object)
    if level_column:
        q = np.quantile(b.data[:, 0], [1 / 3, 2 / 3])
        level = np.where(b.data[:, 0] < q[0], "low", np.where(b.data[:, 0] < q[1], "mid", "high"))
        cells = np.concatenate([cells, level[:, None].astype(object)], axis=1)
        header.append("alcohol_level")
    if missing_share:
        rng = np.random.default_rng(seed)
        cells[rng.random(cells.shape) < missing_share] = ""
    rows = [list(r) + [str(b.target_names[y])] for r, y in zip(cells, b.target)]
    return header + [WINE_TARGET], rows, b.target


def write_csv(path: Path, header, rows, sep: str = ",") -> Path:
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=sep)
        w.writerow(header)
        w.writerows(rows)
    return path


def wine_csv(folder: Path, name: str = "wine.csv", **kw) -> Path:
    header, rows, _ = wine_rows(**kw)
    return write_csv(Path(folder) / name, header, rows)


def diabetes_csv(folder: Path, name: str = "diabetes.csv") -> Path:
    from sklearn.datasets import load_diabetes

    b = load_diabetes()
    rows = [[repr(float(v)) for v in x] + [str(int(y))] for x, y in zip(b.data, b.target)]
    return write_csv(Path(folder) / name, [*b.feature_names, DIABETES_TARGET], rows)


def digit_pngs(folder: Path, side: int = 16, limit: int | None = None) -> Path:
    """scikit-learn's 8x8 digits as ``side`` x ``side`` grey PNGs, one folder per class (``folder/<digit>/``)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    b = load_digits()
    root = Path(folder)
    for i, (img, y) in enumerate(zip(b.images, b.target)):
        if limit is not None and i >= limit:
            break
        d = root / str(int(y))
        d.mkdir(parents=True, exist_ok=True)
        a = np.round(img / 16.0 * 255).astype(np.uint8)
        Image.fromarray(a, "L").resize((side, side), Image.NEAREST).save(d / f"{i:04d}.png")
    return root


def shape_pngs(folder: Path, per_class: int = 12, side: int = 12, seed: int = 0) -> Path:
    """A tiny two-class RGB image folder: a bright square left or right (``folder/left``, ``folder/right``)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, col in (("left", 1), ("right", side // 2 + 1)):
        d = Path(folder) / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 60, (side, side, 3)).astype(np.uint8)
            a[3:side - 3, col:col + side // 2 - 2] = 230
            Image.fromarray(a, "RGB").save(d / f"{c}_{i:02d}.png")
    return Path(folder)


def invoke(args, cwd: Path):
    """``nnml ARGS`` in this process (typer's CliRunner) in ``cwd``: (exit code, stdout, stderr, a crash other than
    SystemExit or None)."""
    from typer.testing import CliRunner

    from nnml.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(app, [str(a) for a in args])
    finally:
        os.chdir(old)
    crash = r.exception if r.exception is not None and not isinstance(r.exception, SystemExit) else None
    return r.exit_code, r.stdout, r.stderr, crash


def runs(cwd: Path) -> list[Path]:
    return sorted(p for p in (Path(cwd) / "outputs" / "train" / "runs").glob("*") if p.is_dir())


def assert_one_line_error(args, cwd: Path, *needles: str) -> str:
    """The command fails with exit code 2, one line on stderr holding every needle, no traceback, no run folder."""
    before = runs(cwd)
    code, out, err, crash = invoke(args, cwd)
    assert crash is None, repr(crash)
    assert code == 2, (code, out[-2000:], err)
    assert "Traceback" not in err + out, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert runs(cwd) == before, "a run folder was left behind"
    return lines[0]
