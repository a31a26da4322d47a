"""Fine-tuning a stand-in for a restored run's model through the run's own task (nnml.run.finetune): it trains the
stand-in with the task's training step and batches, keeps the epoch with the best validation metric (the oracle:
the task's own evaluation of the stand-in gives back that number), and leaves the run's own modules as they
were. Checked on a segmentation run (the task nnml accelerate could not fine-tune before) and a classifier."""

from __future__ import annotations

import copy

import pytest
import torch

from nnml.errors import NnmlError
from tests.conftest import compose, train_config

pytestmark = pytest.mark.slow  # two small training runs (~10 s)

QUIET = ["trainer.device=cpu", "trainer.num_threads=1", "logger=none", "trainer.max_epochs=1"]


def _run(folder, overrides):
    """A run folder as nnml train leaves it (its config where Hydra writes it), trained in this process."""
    from omegaconf import OmegaConf

    cfg = compose([*QUIET, *overrides])
    train_config(cfg, folder, quiet=True)
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return folder


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("seg"), ["task=segmentation", "dataset=shapes", "model=unet",
                                                  "dataset.n_images=60", "dataset.image_size=16",
                                                  "model.base_width=4", "model.depth=2", "task.figure_samples=0"])


@pytest.mark.parametrize("which", ["segmentation", "classification"])
def test_finetune_through_the_task_keeps_the_best_val_epoch(which, seg_run, tmp_path):
    from nnml.run.finetune import finetune_module
    from nnml.run.restore import restore_run

    if which == "segmentation":
        run = seg_run
    else:
        run = _run(tmp_path / "clf", ["dataset=digits", "model.hidden=[16]"])
    restored = restore_run(run, "best", device="cpu")
    task = restored.task
    own = task.modules[task.primary]
    own_state = {k: v.clone() for k, v in own.state_dict().items()}
    slots = task.slots
    stand_in = copy.deepcopy(own)
    with torch.no_grad():
        for p in stand_in.parameters():
            p.mul_(0.5)  # a damaged copy, as pruning leaves it
    before = {k: v.clone() for k, v in stand_in.state_dict().items()}
    info = finetune_module(restored, stand_in, epochs=2, lr=3e-3)
    assert info["epochs"] == 2 and info["best_epoch"] in (1, 2)
    metric = info["monitor"].split("/", 1)[1]
    # the weights left in the stand-in are the best epoch's: the task's own evaluation gives that number back
    assert restored.evaluate("val", module=stand_in)[metric] == pytest.approx(info["best_metric"], abs=1e-6)
    assert any(not torch.equal(before[k], v) for k, v in stand_in.state_dict().items())
    assert not stand_in.training
    # the run's own module and optimizer are back, untouched
    assert task.modules[task.primary] is own and task.slots is slots
    assert all(torch.equal(own_state[k], v) for k, v in own.state_dict().items())


def test_a_task_with_its_own_optimizers_is_refused(seg_run):
    from nnml.run.finetune import finetune_module
    from nnml.run.restore import restore_run

    restored = restore_run(seg_run, "best", device="cpu")
    restored.task.automatic_optimization = False
    with pytest.raises(NnmlError, match="steps its own optimizers"):
        finetune_module(restored, copy.deepcopy(restored.task.modules["model"]), epochs=1)
