"""Supervised learning on ``(x, y)``: classification (accuracy, macro F1, confusion matrix) or regression (MSE,
MAE, R^2), chosen by the data (``task=auto``, the default). One model, one loss, one optimizer. ``nnml predict``
reads new rows or images as the run's data were prepared (:mod:`nnml.tasks.supervised.predict`).

This is also the worked example of a task: ``setup`` builds the model with the data's facts, the loss fitted to
the data's kind and one optimizer slot; ``training_step`` returns the loss and the loop steps the optimizer.
"""

from __future__ import annotations

from nnml.engine.losses import AUTO_LOSSES, AutoLoss, callable_name, is_own_code, make_criterion
from nnml.engine.metrics import MetricState, directions, monitor_default
from nnml.errors import NnmlError
from nnml.tasks.base import Task
from nnml.tasks.capabilities import KeepsRecords

KINDS = ("classification", "regression")


class SupervisedTask(KeepsRecords, Task):
    def __init__(self, augment=None, mixup_alpha: float = 0.0, l1: float = 0.0, l1_mode: str = "penalty",
                 max_norm: float | None = None):
        super().__init__()
        self.data = None
        self.criterion = None
        # Regularizers acting on the step (nnml/tasks/supervised/regularize.py); all off by default, and then the step below
        # is the plain one.
        self.regularization_keys = dict(augment=augment, mixup_alpha=mixup_alpha, l1=l1, l1_mode=l1_mode,
                                        max_norm=max_norm)
        self.regularization = None

    @property
    def kind(self) -> str:
        kind = getattr(self.data, "task", "classification")
        if kind not in KINDS:
            raise NnmlError(f"task=auto trains classification or regression; dataset {self.data.name} gives {kind} "
                            f"data: choose the task for it (nnml list task)")
        return kind

    @property
    def default_monitor(self) -> str:
        return monitor_default(self.kind)[0]

    def metric_directions(self) -> dict[str, str]:
        return directions(self.kind)

    def build_criterion(self, builder) -> None:
        """``self.criterion``: the configured loss, checked against the kind of data (``loss=auto`` becomes the one
        that fits it)."""
        configured = builder.loss()
        self._auto_name = AUTO_LOSSES.get(self.kind, ("",))[0] if isinstance(configured, AutoLoss) else ""
        # the header names a loss of the user's own by its dotted name (the loss group's option may still say auto)
        self._own_name = callable_name(configured) if is_own_code(configured) else ""
        self.criterion = make_criterion(configured, self.kind, builder.data.num_outputs, builder.choices.get("loss", ""))
        # the torch loss itself when the wrapper would only pass the arguments on (one module call less per step)
        self._loss_fn = self.criterion.loss if getattr(self.criterion, "kind", "") == "plain" else self.criterion

    def objective(self) -> str | None:
        own = getattr(self, "_own_name", "")
        if own:
            return own
        name = getattr(self, "_auto_name", "")  # loss=auto: the loss it became
        return f"auto ({name})" if name else None

    def setup(self, builder) -> None:
        model = builder.model()
        self.modules = {"model": model}
        self.build_criterion(builder)
        # A model may bring its own parameter groups (a pretrained encoder with its own learning rate); frozen
        # parameters are left out.
        params = model.param_groups() if hasattr(model, "param_groups") else \
            [p for p in model.parameters() if p.requires_grad]
        self.slots = {"model": builder.optimizer(params)}
        from nnml.tasks.supervised.regularize import Regularization

        self.regularization = Regularization.from_keys(**self.regularization_keys, trust=builder.trust)
        if self.regularization is not None:
            self.regularization.attach(model, self.slots["model"].optimizer)

    def without_regularization(self) -> None:
        """No augmentation, mixup, L1 or max-norm (``trainer.overfit_batches``): the plain step."""
        if self.regularization is not None:
            self.regularization.detach()
        self.regularization = None

    def train_metrics(self):
        return MetricState(self.kind, self.data.num_outputs, self.device)

    def eval_metrics(self, split: str):
        return MetricState(self.kind, self.data.num_outputs, self.device)

    def training_step(self, batch, ctx, metrics):
        if self.regularization is not None:
            return self.regularization.training_step(self, batch, ctx, metrics)
        xb, yb = batch
        with ctx.autocast():
            out = ctx.forward()(xb)
            loss = self._loss_fn(out.float(), yb)
        metrics.update(out.detach().float(), yb, loss.detach())
        return loss

    def validation_step(self, batch, ctx, metrics) -> None:
        xb, yb = batch
        out = ctx.forward()(xb)
        loss = self.criterion(out.float(), yb)
        metrics.update(out.float(), yb, loss)
        if self.recording:
            from nnml.tasks.supervised.records import records_from_batch

            self.keep_records(ctx, records_from_batch(self.kind, out, yb))

    def evaluate(self, split: str, ctx) -> dict[str, float]:
        with self.evaluation_records(split, ctx):
            out = super().evaluate(split, ctx)
        return out

    def records_spec(self, split: str) -> dict:
        return {"kind": self.kind}

    @property
    def file_inputs(self) -> str:
        """What ``nnml predict --file F`` holds for this run: ``table`` (rows) or ``lines`` (image files)."""
        from nnml.tasks.supervised.predict import reads_table_file

        return "table" if reads_table_file(self.data) else "lines"

    def predict(self, inputs: list[str], options: dict) -> list[dict]:
        """``nnml predict``: the class with its probabilities (the ``--top`` K, default 3), or the value on the
        target's scale, per row or image (nnml/tasks/supervised/predict.py says what each run reads)."""
        from nnml.tasks.supervised.predict import predict

        return predict(self, inputs, options)

    def final_artifacts(self, ctx) -> dict:
        """The test confusion matrix (an image and its counts as a table) and, for 2-D inputs, the decision
        boundary; drawn with NumPy, so that a default run never imports matplotlib."""
        if self.kind != "classification":
            return {}
        from nnml.tasks.supervised import figures as figs

        data, model = self.data, self.modules["model"]
        cm = figs.confusion_matrix(model, ctx.batches("test"), ctx.device, ctx.autocast, data.num_outputs)
        images = {"test/confusion_matrix": figs.confusion_image(cm)}
        if tuple(data.input_shape) == (2,):
            images["test/decision_boundary"] = figs.decision_boundary_image(model, data.x_test, data.y_test,
                                                                            ctx.device)
        return {"images": images, "text": {"test/confusion_matrix": figs.confusion_markdown(cm, data.class_names)}}
