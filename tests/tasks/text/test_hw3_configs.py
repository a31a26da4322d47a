"""Every text option builds from its config with the data's facts, and its task takes one training step."""

import pytest
import torch

from nnml.config.targets import Trust
from tests.conftest import compose

SMALL = {
    "seq2seq": ["dataset=numbers", "dataset.max_number=200", "dataset.held_out=[100,150]"],
    "token_classification": ["dataset=faker_ner", "dataset.n_train=40", "dataset.n_val=10", "dataset.n_test=10"],
    "text_classification": ["dataset=langid"],
}
CASES = [("seq2seq", "gru_attention"), ("seq2seq", "transformer_seq2seq"),
         ("token_classification", "bilstm_tagger"), ("text_classification", "bag_of_embeddings"),
         ("text_classification", "text_cnn"), ("text_classification", "text_rnn"),
         ("text_classification", "text_transformer")]

_DATA = {}


def _setup(task, model):
    from nnml.run.build import Builder, build_data, build_task

    cfg = compose([f"task={task}", f"model={model}", *SMALL[task], "trainer.device=cpu"])
    if task not in _DATA:
        _DATA[task] = build_data(cfg.dataset, seed=0, trust=Trust())
    data = _DATA[task]
    t = build_task(cfg, data, Trust())
    builder = Builder(cfg, data, "cpu", seed=0, trust=Trust())
    t.setup(builder)
    return t, t.batches("train", builder)


@pytest.mark.parametrize("task,model", CASES)
def test_option_builds_and_steps(task, model):
    from nnml.engine.metrics import MeanMetrics

    torch.manual_seed(0)
    t, source = _setup(task, model)

    class Ctx:
        train_metrics = True

        def forward(self, name=None):
            return t.modules["model"]

        def autocast(self):
            import contextlib

            return contextlib.nullcontext()

    batch = next(iter(source.epoch(0)))
    metrics = t.train_metrics() if task == "text_classification" else MeanMetrics()
    loss = t.training_step(batch, Ctx(), metrics)
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None for p in t.modules["model"].parameters())


def test_seq2seq_refuses_tagging_data():
    from nnml.errors import NnmlError
    from nnml.run.build import Builder, build_data, build_task

    cfg = compose(["task=seq2seq", "model=gru_attention", *SMALL["token_classification"]])
    data = _DATA.get("token_classification") or build_data(cfg.dataset, seed=0, trust=Trust())
    with pytest.raises(NnmlError, match="task=seq2seq needs translation pairs"):
        build_task(cfg, data, Trust()).setup(Builder(cfg, data, "cpu", seed=0, trust=Trust()))
