"""Lab gradcheck: every layer's hand-written gradient within 1e-10 of autograd (float64)."""

import pytest

from nnml.cli.labs import run_lab
from nnml.errors import NnmlError


@pytest.mark.parametrize("cfg", [{}, {"activation": "prelu", "criterion": "mse"}, {"activation": "gelu", "hidden": [5]}])
def test_all_layers_agree_with_autograd(tmp_path, cfg):
    numbers, table = run_lab("gradcheck", cfg, tmp_path)
    assert numbers["all_ok"] and numbers["max_gap"] < 1e-10 and numbers["loss_gap"] < 1e-12
    n_hidden = len(cfg.get("hidden", [16, 16]))
    # each Linear: input, weight, bias; each activation: input (+ slope for prelu)
    expected = 3 * (n_hidden + 1) + n_hidden * (2 if cfg.get("activation") == "prelu" else 1)
    assert numbers["checked"] == table.row_count == expected
    assert (tmp_path / "gradcheck.csv").exists() and (tmp_path / "gradcheck.png").exists()


def test_bad_loss_is_refused(tmp_path):
    with pytest.raises(NnmlError, match="criterion=nll is not valid; choose one of: cross_entropy, mse"):
        run_lab("gradcheck", {"criterion": "nll"}, tmp_path)
