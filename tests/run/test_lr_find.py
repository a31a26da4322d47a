"""The learning-rate range test: its reading rules on curves with known answers, the test on real runs (digits with
Adam and with SGD), that it leaves the task as it found it, and the command."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nnml.run.lr_find import lr_at, range_test, smooth, steep, suggest, valley
from tests.conftest import compose

CPU = ["trainer.device=cpu", "trainer.num_threads=1"]


def _grid(n=100, lo=1e-6, hi=10.0):
    return [lr_at(i, n, lo, hi) for i in range(n)]


def test_the_range_is_exponential_from_start_to_end():
    lrs = _grid(100, 1e-7, 10.0)
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10.0)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios)) == pytest.approx(1e8 ** (1 / 99))


def test_smoothing_is_the_bias_corrected_moving_average():
    assert smooth([3.0] * 5) == pytest.approx([3.0] * 5)  # a constant stays itself from the first point on
    beta = 0.9
    want = [(1 - beta) * 1 / (1 - beta), ((1 - beta) * beta * 1 + (1 - beta) * 2) / (1 - beta ** 2)]
    assert smooth([1.0, 2.0], beta) == pytest.approx(want)


def test_steep_finds_the_steepest_point_of_a_known_curve():
    """loss = 2 - tanh(log10(lr) + 2) falls fastest at lr = 1e-2."""
    lrs = _grid(200, 1e-6, 1.0)
    losses = [2 - math.tanh(math.log10(lr) + 2) for lr in lrs]
    i = steep(lrs, losses)
    assert math.log10(lrs[i]) == pytest.approx(-2, abs=0.04)


def test_valley_lies_halfway_down_the_longest_descent():
    """Flat with noise, a descent between 1e-4 and 1e-1, then a blow-up: the valley is the descent, the suggestion
    half way into it (in steps, here in log(lr)); a short dip in the flat part is not the valley."""
    lrs = _grid(100, 1e-7, 10.0)
    losses = []
    for i, lr in enumerate(lrs):
        x = math.log10(lr)
        if x < -4:
            losses.append(2.3 + 0.01 * (-1) ** i)  # flat, zig-zagging: no descent longer than one step
        elif x < -1:
            losses.append(2.3 - 2.0 * (x + 4) / 3)  # falls steadily
        else:
            losses.append(0.3 + 5 * (x + 1))
    idx, (a, b) = valley(lrs, losses)
    assert math.log10(lrs[a]) == pytest.approx(-4, abs=0.2) and math.log10(lrs[b]) == pytest.approx(-1, abs=0.2)
    assert math.log10(lrs[idx]) == pytest.approx(-2.5, abs=0.2)


def test_too_short_a_curve_is_refused():
    from nnml.errors import NnmlError

    with pytest.raises(NnmlError, match="too few"):
        suggest(_grid(12), [1.0] * 12)


def _built(overrides):
    from nnml.config.targets import Trust
    from nnml.run.lr_find import build_for_range_test

    cfg = compose([*CPU, *overrides])
    return build_for_range_test(cfg, Trust.own(cfg))


def test_the_task_is_put_back_as_it_was():
    task, batches, device, autocast = _built(["scheduler=onecycle"])
    slot = task.slots["model"]
    before = {k: v.clone() for k, v in task.modules["model"].state_dict().items()}
    opt_before = json.dumps(slot.optimizer.state_dict()["param_groups"], default=str)
    sched = slot.scheduler
    rng = torch.get_rng_state()
    range_test(task, batches, device=device, autocast=autocast, num_steps=40)
    after = task.modules["model"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert json.dumps(slot.optimizer.state_dict()["param_groups"], default=str) == opt_before
    assert slot.optimizer.state_dict()["state"] == {}  # Adam's moments of the test are gone
    assert slot.scheduler is sched and all(p.grad is None for p in task.modules["model"].parameters())
    assert torch.equal(torch.get_rng_state(), rng)


@pytest.mark.slow
def test_digits_adam_and_sgd_suggestions():
    """On digits the test suggests a learning rate in [1e-4, 1e-1] for Adam, and a larger one for plain SGD, whose
    steps scale with the gradient instead of being normalized by it."""
    found = {}
    for opt in ("adam", "sgd"):
        task, batches, device, autocast = _built([f"optimizer={opt}"])
        found[opt] = range_test(task, batches, device=device, autocast=autocast).suggestion
    assert 1e-4 <= found["adam"] <= 1e-1, found
    assert found["sgd"] > found["adam"], found


def test_a_model_without_an_optimizer_has_no_learning_rate_to_find():
    from nnml.errors import NnmlError
    from nnml.run.lr_find import range_test

    class NoSlots:
        slots = {}

    with pytest.raises(NnmlError, match="no optimizer"):
        range_test(NoSlots(), None, device="cpu")


def test_the_command_prints_the_override_and_leaves_no_run(workdir):
    from typer.testing import CliRunner

    from nnml.cli import app

    result = CliRunner().invoke(app, ["lr-find", *CPU, "--steps", "40", "--json", "--out", "curve.png"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["override"] == f"optimizer.lr={answer['override_value']}"
    assert float(answer["override_value"]) == pytest.approx(answer["suggestion"], rel=0.06)
    assert answer["method"] == "valley" and set(answer["suggestions"]) == {"valley", "steep"}
    assert (workdir / "curve.png").stat().st_size > 10_000
    assert not (workdir / "outputs").exists()

    result = CliRunner().invoke(app, ["lr-find", *CPU, "--steps", "40", "--method", "steep"])
    assert result.exit_code == 0, result.output
    (folder,) = (workdir / "outputs" / "lr_find").iterdir()
    assert {"lr_find.png", "lr_find.json"} <= {p.name for p in folder.iterdir()}
    assert any(p.name.startswith("events.out.tfevents") for p in folder.iterdir())
    assert "chosen by steep" in result.output and "optimizer.lr=" in result.output
    assert not (workdir / "outputs" / "train").exists()


def test_bad_input_is_one_line(workdir):
    from typer.testing import CliRunner

    from nnml.cli import app

    for args, words in ((["--method", "middle"], "--method middle is not valid"),
                        (["optimizer=adamm"], "did you mean 'adam'"),
                        (["-m", "optimizer=sgd,adam"], "not -m"),
                        (["--out", "x.jpg"], "ending in .png")):
        result = CliRunner().invoke(app, ["lr-find", *CPU, *args])
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, (args, result.output)
    assert not (workdir / "outputs").exists()
