"""What the loop tells the outside world. Consoles, TensorBoard, run files and tuners implement these methods;
the loop calls them and never imports them."""

from __future__ import annotations


class Callback:
    """Every method is optional. ``state`` is the loop's :class:`~nnml.engine.loop.LoopState`."""

    #: True for callbacks that draw what a task shows (figures, images, text, embeddings): the loop asks the task
    #: for artifacts only when some callback wants them, since drawing costs time
    wants_artifacts: bool = False
    #: True for callbacks that must see every training step (a profiler): only then does the loop call
    #: :meth:`on_train_step`, which would otherwise cost every step a call
    wants_steps: bool = False

    def on_fit_start(self, state) -> None: ...

    def on_train_log(self, state, scalars: dict[str, float]) -> None:
        """Every ``trainer.log_every_n_steps`` steps: ``train/loss``, ``lr``, ``grad_norm`` of that step."""

    def on_train_step(self, state) -> None:
        """After every training step, for callbacks with ``wants_steps``."""

    def on_epoch_end(self, state, metrics: dict[str, float]) -> None:
        """After training (and validation, when it ran) of an epoch: ``train/*``, ``val/*``, ``lr``, ``epoch``."""

    def on_before_checkpoint(self, state) -> None:
        """Just before a checkpoint is written: a resume starts from the newest one on disk, so what a callback
        keeps of the epochs before it (TensorBoard's buffered events) must reach the disk first."""

    def on_notice(self, state, message: str) -> None:
        """Something the loop changed on its own during the run (fewer threads when other processes took cores)."""

    def on_artifacts(self, state, artifacts: dict) -> None:
        """What a task shows after an epoch or at the end: ``{"figures": {tag: Figure}, "images": {tag: CHW
        tensor}, "text": {tag: str}, "embeddings": {tag: (matrix, metadata, label_images)}}``."""

    def on_fit_end(self, state) -> None: ...

    def on_test_end(self, state, metrics: dict[str, float]) -> None: ...

    def close(self) -> None:
        """Always called, also after an error or interrupt: flush and release files."""


class CallbackList(Callback):
    def __init__(self, callbacks):
        self.callbacks = [c for c in callbacks if c is not None]

    @property
    def wants_artifacts(self) -> bool:
        return any(getattr(c, "wants_artifacts", False) for c in object.__getattribute__(self, "callbacks"))

    @property
    def wants_steps(self) -> bool:
        return any(getattr(c, "wants_steps", False) for c in object.__getattribute__(self, "callbacks"))

    def __getattribute__(self, name):
        if name.startswith("on_") or name == "close":
            cbs = object.__getattribute__(self, "callbacks")

            def fan_out(*args, **kwargs):
                for cb in cbs:
                    getattr(cb, name)(*args, **kwargs)

            return fan_out
        return object.__getattribute__(self, name)


class StopTraining(Exception):
    """Raised by a callback to end training early and cleanly (e.g. a tuner pruning a trial)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
