"""``task=finetune``: supervised training (``task=auto``) whose optimizer takes the model's parameter groups.

A model that defines ``param_groups(lr)`` (``model=pretrained``: the new head at ``optimizer.lr``, the encoder at
``model.encoder_lr`` times it, nothing of a frozen encoder) gets one optimizer over those groups; any other model
trains exactly as under ``task=auto``::

    nnml train task=finetune model=pretrained model.encoder=<pretraining run> model.encoder_lr=0.1
"""

from __future__ import annotations

from nnml.tasks.supervised.task import SupervisedTask


class FinetuneTask(SupervisedTask):
    def setup(self, builder) -> None:
        # SupervisedTask.setup, with the optimizer's learning rate handed to the model's groups
        model = builder.model()
        self.modules = {"model": model}
        self.build_criterion(builder)
        if callable(getattr(model, "param_groups", None)):
            params = model.param_groups(float(builder.cfg.optimizer.get("lr", 1e-3)))
        else:
            params = [p for p in model.parameters() if p.requires_grad]
        self.slots = {"model": builder.optimizer(params)}
