"""Knowledge distillation (Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge in a Neural Network"): a
student (any ``model=...``) learns from a trained teacher run's soft targets as well as from the labels.

    nnml train task=distill task.teacher=outputs/train/runs/<teacher run> model=mlp model.hidden=[32]

The loss mixes the two: ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE``.
A temperature ``T`` above 1 softens both distributions so that the teacher's small probabilities for wrong
classes (which digits look alike) carry signal; the ``T^2`` keeps the soft term's gradients on the scale of the
hard term's as ``T`` changes. The teacher is rebuilt from its run folder (its saved model config and checkpoint), frozen,
kept in eval mode and not saved in the student's checkpoints; it must have been trained on the same data (the
same dataset config and seed), which is checked before training. Evaluation is the supervised task's, on the
student alone; ``train/loss`` is the student's cross-entropy on the labels (as for a student trained alone), while
the mixed loss it optimizes is logged as ``train/step_loss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnml.errors import NnmlError
from nnml.tasks.supervised.task import SupervisedTask


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(p_teacher^T || p_student^T)``, averaged over the batch."""
    t = float(temperature)
    return F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
                    log_target=True, reduction="batchmean") * (t * t)


class DistillTask(SupervisedTask):
    """The supervised task with the teacher's soft targets mixed into the training loss."""

    def __init__(self, teacher: str | None = None, temperature: float = 4.0, alpha: float = 0.9,
                 teacher_checkpoint: str = "best"):
        super().__init__()
        if not teacher:
            raise NnmlError("task.teacher=null is not valid: task=distill needs the teacher's run folder, e.g. "
                            "task.teacher=outputs/train/runs/<run>")
        if not float(temperature) > 0:
            raise NnmlError(f"task.temperature={temperature} is not valid; give a number above 0 (typically 2-8)")
        if not 0.0 <= float(alpha) <= 1.0:
            raise NnmlError(f"task.alpha={alpha} is not valid; give the soft-target weight between 0 and 1")
        self.teacher_dir = str(teacher)
        self.teacher_checkpoint = str(teacher_checkpoint)
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.teacher = None

    def objective(self) -> str:
        hard = super().objective() or "the loss config"
        return f"{self.alpha:g} x soft-target KL (T={self.temperature:g}) + {1 - self.alpha:g} x {hard}"

    def setup(self, builder) -> None:
        super().setup(builder)
        if self.kind != "classification":
            raise NnmlError(f"task=distill distils classifiers; dataset {self.data.name} is {self.kind}")
        if builder.evaluating:
            return  # nnml eval / accelerate of a student: the teacher is not needed
        self.teacher = self._restore_teacher(builder)

    def _restore_teacher(self, builder):
        """The teacher's model from its run folder, read back as data (nnml/config/runfolder.py: only nnml's and
        torch's registered parts, or the user's own code named on this command line, never what the teacher's
        folder itself lists): its model config built by ``builder.model`` (the student's data gives the sizes: it
        is the teacher's data, checked here) and its checkpoint's weights."""
        from pathlib import Path

        from omegaconf import OmegaConf

        from nnml.config.runfolder import RunFolder
        from nnml.engine.checkpoint import load_checkpoint, load_model_weights

        run = RunFolder(self.teacher_dir, role="task.teacher").require("give the teacher's folder under "
                                                                        "outputs/train/runs/")
        ckpt_path = (run.checkpoints / f"{self.teacher_checkpoint}.pt"
                     if self.teacher_checkpoint in ("best", "last") else Path(self.teacher_checkpoint))
        if not ckpt_path.is_file():
            raise NnmlError(f"task.teacher={run.path} has no checkpoint {ckpt_path.name}; train the teacher first "
                            f"(nnml train ...) or set task.teacher_checkpoint")
        cfg, trust = run.load_config(allow=builder.trust.prefixes)
        mine = OmegaConf.to_container(builder.cfg.dataset, resolve=True)
        theirs = OmegaConf.to_container(cfg.dataset, resolve=True)
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k) and k not in (
            "batch_size", "eval_batch_size", "loader", "num_workers", "pin_memory"))
        from nnml.config.seeds import data_seed

        split_seed = data_seed(builder.cfg)
        if diff or data_seed(cfg) != split_seed:
            what = ", ".join([f"dataset.{k}: {theirs.get(k)} vs {mine.get(k)}" for k in diff]
                             + ([f"data seed: {data_seed(cfg)} vs {split_seed}"] if data_seed(cfg) != split_seed
                                else []))
            raise NnmlError(f"task.teacher={run.path} was trained on other data ({what}); the student must use the "
                            f"teacher's dataset and data seed, or its test split would overlap the teacher's training")
        # Building the teacher draws random numbers (its initial weights); fork so the student's run matches a
        # run of the same student without a teacher, seed for seed.
        with torch.random.fork_rng(devices=[]):
            teacher = builder.model(cfg.model, key="task.teacher's model", trust=trust)
        load_model_weights(teacher, load_checkpoint(ckpt_path), ckpt_path)
        teacher.eval().requires_grad_(False)
        return teacher

    def training_step(self, batch, ctx, metrics):
        if self.teacher is None:
            raise NnmlError("task=distill was not set up with a teacher")
        xb, yb = batch
        with ctx.autocast():
            out = ctx.forward()(xb)
            with torch.no_grad():
                soft_targets = self.teacher(xb).float()
            hard = self.criterion(out.float(), yb)
            soft = distillation_loss(out.float(), soft_targets, self.temperature)
            loss = self.alpha * soft + (1.0 - self.alpha) * hard
        # train/loss stays the cross-entropy on the labels, comparable with val/loss and with the same student
        # trained alone; the loss optimized (and logged as train/step_loss) is the mix
        metrics.update(out.detach().float(), yb, hard.detach())
        return loss
