"""``task=segmentation``: one class per pixel (semantic segmentation).

The data (``dataset=shapes``, ``dataset=image_folder_masks``) gives images (N, C, H, W) and masks (N, H, W); the
model (``model=unet``, ``model=fcn``) gives logits (N, K, H, W), its channels and classes taken from the data.
Training applies the paired augmentations of ``augment`` to each batch on the device; evaluation fills a
confusion matrix (``nnml.tasks.segmentation.metrics``): pixel accuracy, mean IoU (the default monitor), mean Dice and
per-class IoU and Dice. Every ``figures_every_n_epochs`` epochs an image grid of input / truth / prediction goes to
TensorBoard and RUN_DIR/figures; at the end a per-class IoU bar chart of the test split.

    nnml train experiment=shapes_unet
    nnml predict RUN_DIR picture.png --out mask.png     # mask.png (class ids) and mask_overlay.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from nnml.errors import NnmlError
from nnml.tasks.base import Task
from nnml.tasks.capabilities import KeepsRecords
from nnml.tasks.segmentation.metrics import SegMetrics

LOSS_CHOICES = "ce_dice, cross_entropy, dice, focal, seg_cross_entropy"


def _set_ignore_index(loss: nn.Module, value: int) -> None:
    # The data decides which mask value means "ignore" (like the number of classes): every part of the loss follows.
    for m in loss.modules():
        if "ignore_index" in vars(m):
            m.ignore_index = value


class SegmentationTask(KeepsRecords, Task):
    default_monitor = "val/miou"

    def __init__(self, augment: dict | None = None, figures_every_n_epochs: int = 5, figure_samples: int = 6):
        super().__init__()
        from nnml.tasks.segmentation.augment import PairedAugment

        self.augment_cfg = dict(augment or {})
        try:
            self.augment = PairedAugment(**self.augment_cfg)
        except TypeError as e:
            raise NnmlError(f"task.augment has an unknown key ({e}); valid keys: crop, hflip, padding, rotate, scale, "
                            f"vflip") from None
        if int(figures_every_n_epochs) < 0 or int(figure_samples) < 0:
            raise NnmlError("task.figures_every_n_epochs and task.figure_samples must be >= 0 (0: none)")
        self.every = int(figures_every_n_epochs)
        self.n_fig = int(figure_samples)
        self.class_names: list[str] = []
        self.results: dict[str, dict] = {}

    # ------------------------------------------------------------------ building
    def setup(self, builder) -> None:
        from nnml.tasks.segmentation.losses import CEDiceLoss, DiceLoss, FocalLoss, check_weight

        data = builder.data
        if getattr(data, "task", None) != "segmentation":
            raise NnmlError(f"task=segmentation needs per-pixel masks; dataset={data.name} is "
                            f"{getattr(data, 'task', '?')} data: use dataset=shapes or dataset=image_folder_masks")
        self.k = int(data.num_outputs)
        self.class_names = list(data.class_names) or [str(i) for i in range(self.k)]
        meta = data.meta
        self.ignore_index = int(meta.get("ignore_index", 255))
        self.input_shape = tuple(int(s) for s in data.input_shape)
        self.image_mean = list(meta.get("image_mean", [0.0] * self.input_shape[0]))
        self.image_std = list(meta.get("image_std", [1.0] * self.input_shape[0]))
        self.augment.ignore_index = self.ignore_index
        self.run_dir = builder.run_dir
        model = builder.model()
        self.modules = {"model": model}
        loss = builder.loss()
        from nnml.engine.losses import AutoLoss

        self._objective = None
        if isinstance(loss, AutoLoss):  # loss=auto (the default): per-pixel cross-entropy
            loss = nn.CrossEntropyLoss()
            self._objective = "auto (per-pixel cross_entropy)"
        if not isinstance(loss, (nn.CrossEntropyLoss, DiceLoss, FocalLoss, CEDiceLoss)):
            raise NnmlError(f"loss={type(loss).__name__} does not fit task=segmentation; choose one of: {LOSS_CHOICES}")
        _set_ignore_index(loss, self.ignore_index)
        for m in loss.modules():
            check_weight(m, self.k)
        self.loss = loss.to(builder.device)
        self.slots = {"model": builder.optimizer(model.parameters())}
        # A fixed handful of validation images for the periodic figure (the same ones every time).
        self.fig_val = tuple(t[: self.n_fig] for t in data.split("val")) if self.n_fig else None
        self.fig_test = tuple(t[: self.n_fig] for t in data.split("test")) if self.n_fig else None

    def objective(self) -> str | None:
        return self._objective

    # ------------------------------------------------------------------ metrics
    def metric_directions(self) -> dict[str, str]:
        d = {"loss": "min", "pixel_acc": "max", "miou": "max", "mdice": "max"}
        for name in self.class_names:
            d[f"iou/{name}"] = "max"
            d[f"dice/{name}"] = "max"
        return d

    def eval_metrics(self, split: str) -> SegMetrics:
        # Per-class values for the test split only: a line per epoch stays readable, the final report complete.
        return SegMetrics(self.k, self.class_names, self.ignore_index, self.device, per_class=split == "test")

    def without_regularization(self) -> None:
        """No paired augmentation (``trainer.overfit_batches``)."""
        from nnml.tasks.segmentation.augment import PairedAugment

        self.augment = PairedAugment(hflip=0.0, ignore_index=self.augment.ignore_index)  # identity

    # ------------------------------------------------------------------ steps
    def training_step(self, batch, ctx, metrics):
        x, y = batch
        x, y = self.augment(x, y)
        logits = ctx.forward()(x)
        loss = self.loss(logits, y)
        metrics.add("loss", loss.detach(), x.shape[0])
        return loss

    def validation_step(self, batch, ctx, metrics) -> None:
        x, y = batch
        logits = ctx.module()(x)
        metrics.update(logits, y, self.loss(logits, y))
        if self.recording:
            from nnml.tasks.segmentation.records import records_from_batch

            self.keep_records(ctx, records_from_batch(logits, y, self.k, self.ignore_index))

    def evaluate(self, split: str, ctx) -> dict[str, float]:
        with self.evaluation_records(split, ctx):
            out = super().evaluate(split, ctx)
        self.results[split] = out  # the final bar chart reads the test split's per-class values
        return out

    def records_spec(self, split: str) -> dict:
        return {"kind": "segmentation", "class_names": list(self.class_names), "per_class": split == "test"}

    # ------------------------------------------------------------------ artifacts
    @torch.no_grad()
    def _grid(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from nnml.tasks.segmentation.figures import denormalize, grid, overlay

        model = self.modules["model"]
        was_training = model.training
        model.eval()
        try:
            pred = model(x.to(self.device)).argmax(1).cpu()
        finally:
            model.train(was_training)
        img = denormalize(x.cpu().float(), self.image_mean, self.image_std)
        return grid([img, overlay(img, y, self.k, self.ignore_index), overlay(img, pred, self.k, self.ignore_index)])

    def epoch_artifacts(self, epoch: int, ctx) -> dict:
        if not self.every or not self.fig_val or epoch % self.every:
            return {}
        # Columns: input, ground truth, prediction (classes in the colours of the final bar chart).
        return {"images": {"val/segmentation": self._grid(*self.fig_val)}}

    def final_artifacts(self, ctx) -> dict:
        from nnml.tasks.segmentation.figures import iou_bar_chart

        out: dict = {}
        if self.fig_test:
            out["images"] = {"test/segmentation": self._grid(*self.fig_test)}
        res = self.results.get("test")
        if res:
            iou = [res.get(f"iou/{c}", float("nan")) for c in self.class_names]
            dice = [res.get(f"dice/{c}", float("nan")) for c in self.class_names]
            out["figures"] = {"test/per_class_iou": iou_bar_chart(self.class_names, iou, dice)}
            rows = "\n".join(f"| {c} | {i:.4f} | {d:.4f} |" for c, i, d in zip(self.class_names, iou, dice))
            out["text"] = {"test/per_class": "| class | IoU | Dice |\n|---|---|---|\n" + rows}
        return out

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        # What nnml predict needs to prepare a new image as the training images were.
        return {"image_mean": torch.tensor(self.image_mean), "image_std": torch.tensor(self.image_std),
                "class_names": list(self.class_names), "input_shape": list(self.input_shape),
                "ignore_index": self.ignore_index}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        self.image_mean = [float(v) for v in state["image_mean"]]
        self.image_std = [float(v) for v in state["image_std"]]
        self.class_names = list(state["class_names"])
        self.input_shape = tuple(int(s) for s in state["input_shape"])
        self.ignore_index = int(state["ignore_index"])
        self.k = len(self.class_names)

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, inputs: list[str], options: dict) -> list[dict]:
        """Segment image files: a palette PNG of class ids per input plus an overlay PNG beside it. ``--out``: the
        mask file for one input, a folder for several (default: ``RUN_DIR/predictions``)."""
        from PIL import Image, UnidentifiedImageError

        from nnml.tasks.segmentation.figures import overlay, save_mask_png

        if not inputs:
            raise NnmlError("nnml predict needs image files for task=segmentation, e.g. nnml predict RUN_DIR a.png")
        out_opt = options.get("out")
        run_dir = getattr(self, "run_dir", None)
        if out_opt and len(inputs) == 1 and Path(out_opt).suffix:
            targets = [Path(out_opt)]
        else:
            folder = Path(out_opt) if out_opt else Path(run_dir or ".") / "predictions"
            targets = [folder / f"{Path(p).stem}_mask.png" for p in inputs]
        c, h, w = self.input_shape
        model = self.modules["model"]
        model.eval()
        mean = torch.tensor(self.image_mean).view(1, -1, 1, 1)
        std = torch.tensor(self.image_std).view(1, -1, 1, 1)
        rows = []
        for src, dst in zip(inputs, targets):
            try:
                with Image.open(src) as im:
                    im = im.convert("L" if c == 1 else "RGB")
                    size = im.size
                    arr = np.asarray(im.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0
                    full = np.asarray(im, dtype=np.float32) / 255.0
            except (FileNotFoundError, UnidentifiedImageError, OSError) as e:
                raise NnmlError(f"input {src} is not a readable image ({type(e).__name__}); give PNG or JPEG files")
            x = torch.from_numpy(arr if arr.ndim == 3 else arr[..., None]).permute(2, 0, 1)[None]
            logits = model(((x - mean) / std).to(self.device)).float().cpu()
            # Back to the picture's own size: class scores upsampled bilinearly, then the argmax.
            logits = torch.nn.functional.interpolate(logits, size=(size[1], size[0]), mode="bilinear",
                                                     align_corners=False)
            mask = logits.argmax(1)[0].numpy().astype(np.uint8)
            dst.parent.mkdir(parents=True, exist_ok=True)
            save_mask_png(mask, dst, self.k)
            img = torch.from_numpy(full if full.ndim == 3 else np.repeat(full[..., None], 3, 2)).permute(2, 0, 1)[None]
            ov = overlay(img, torch.from_numpy(mask.astype(np.int64))[None], self.k, self.ignore_index)[0]
            ov_path = dst.with_name(dst.stem + "_overlay.png")
            Image.fromarray((ov.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(ov_path)
            share = np.bincount(mask.ravel(), minlength=self.k) / mask.size
            rows.append({"input": str(src), "mask": str(dst), "overlay": str(ov_path),
                         "classes": ", ".join(f"{n} {s:.1%}" for n, s in zip(self.class_names, share) if s > 0)})
        return rows
