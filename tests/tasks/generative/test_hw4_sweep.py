"""A beta-VAE sweep through the real CLI, then ``nnml compare`` on it: the runs' metrics side by side, best
first by the monitored -ELBO, with the differing beta as a column and each run's final sample grid on disk."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli

pytestmark = pytest.mark.slow


def test_compare_over_a_beta_sweep(tmp_path):
    r = cli(["train", "-m", "experiment=compare_vae_betas", "task.beta=0.5,4", "trainer.max_epochs=2",
                 "model.hidden=[32]", "trainer.num_threads=1", "trainer.device=cpu", "task.iw_samples=4",
                 "task.every_n_epochs=0"], tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (sweep,) = (tmp_path / "outputs" / "compare_vae_betas" / "multiruns").iterdir()
    r = cli(["compare", str(sweep), "--format", "json", "--metric", "val/nelbo", "--metric", "test/nelbo",
                 "--metric", "figures/samples"], tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert sorted(row["task.beta"] for row in rows) == [0.5, 4.0]  # the differing key as a column
    assert rows[0]["val/nelbo"] <= rows[1]["val/nelbo"] and "test/nelbo" in rows[0]  # best (lowest) first
    for row in rows:  # the grid's path (in the run folder) as a column
        assert row["figures/samples"] == "figures/final_samples.png"
        assert (sweep / row["run"] / row["figures/samples"]).is_file()
    r = cli(["compare", str(sweep), "--metric", "val/nelbo", "--metric", "figures/samples"], tmp_path)
    assert "task.beta" in r.stdout and "final_samples.png" in r.stdout
