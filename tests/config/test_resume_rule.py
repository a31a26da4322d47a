"""nnml/config/resume.py: the rule that decides which overrides a resume may take, derived from the config groups
(not a hand list). The issue's own examples (a split fraction, an activation) are refused with the key named; where
and how fast a run trains, and extending it, stay allowed."""

from __future__ import annotations

import pytest

from nnml.config.catalog import groups
from nnml.config.resume import refused_on_resume

GROUPS = set(groups())


@pytest.mark.parametrize("key", [
    "dataset.val_fraction", "dataset.test_fraction", "dataset.noise", "dataset.batch_size",
    "model.activation", "model.hidden", "model.dropout",
    "loss", "loss.gamma", "task.word_dropout", "task", "seed", "data_seed",
    "optimizer.lr", "optimizer.weight_decay", "scheduler.max_lr",
    "trainer.precision", "trainer.grad_clip", "trainer.monitor",
    "trainer.train_metrics",  # an epoch's sums in last.pt hold the scores or not: one setting per run
])
def test_what_the_run_learns_is_refused(key):
    assert key.split(".")[0] in GROUPS | {"seed", "data_seed"}  # each example names a real group or seed
    assert refused_on_resume(key, GROUPS)
    assert refused_on_resume("+" + key, GROUPS)  # an append is no way around it


@pytest.mark.parametrize("key", [
    "trainer.device", "trainer.num_threads", "trainer.max_epochs", "trainer.patience", "trainer.log_every_n_steps",
    "trainer.checkpoint_every_n_epochs", "logger", "logger.flush_secs", "dataset.eval_batch_size", "dataset.num_workers",
    "task_name", "hydra.run.dir",
])
def test_where_and_how_fast_it_trains_is_allowed(key):
    assert refused_on_resume(key, GROUPS) is None


def test_every_group_but_trainer_and_logger_is_refused_whole():
    """A group added later is refused on resume without anyone adding it to a list."""
    for g in GROUPS - {"trainer", "logger"}:
        assert refused_on_resume(f"{g}.some_key", GROUPS), g
