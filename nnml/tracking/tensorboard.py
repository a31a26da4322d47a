"""TensorBoard logging: scalars per log step (``train/step_loss``, ``train/grad_norm``, and the per-layer
statistics ``train_layers/...`` with ``trainer.layer_stats``) and per epoch
(``train/*``, ``val/*``, ``train/lr``, at the epoch's last global step), hparams with the final metrics, the config
as text, a custom-scalars layout (the loss and the monitored metric of every run in one chart each), figures at the
end, histograms only when asked for. No scalar restates the step (no ``epoch`` curve): every tag sits under
``train/`` or ``val/``, so the Scalars tab opens on them.

Event files go straight into the run folder, so TensorBoard names each run by its folder. Every run logs the same
hparam keys (see :func:`hparams_of`), the keys a sweep or study varies first, so a sweep lines up in the HParams tab
with the question it asked in the first columns.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from nnml.engine.callbacks import Callback

# Epoch-end flushes at most this often: a flush costs ~0.15-0.4 ms, epochs of small jobs take ~10-20 ms, and a
# crash that skips close() (SIGKILL) then loses at most this many seconds of events.
EPOCH_FLUSH_EVERY_S = 2.0
# Per-step scalars wait in memory until the epoch ends, or until they are this old (a long epoch still shows them
# live): an event handed to the writer wakes its thread in the middle of the training steps, and its pure-Python
# CRC then takes the GIL from the training thread (~5 ms a logging step on a loaded 2-core machine).
STEP_HANDOVER_S = 2.0


def wait_past_other_writers(run_dir: Path) -> None:
    """Sleep into the next second when another process's event file in ``run_dir`` was started in this second.

    TensorBoard reads a folder's event files in name order, and a name is ``events.out.tfevents.<second>.<host>.
    <pid>.<n>``: a resumed run's file started in the same second as the stopped run's sorts before it when its pid
    is smaller (a resume from a notebook, or straight after a run killed within its first second), and the stopped
    run's epochs, read after the resumed run's purge, were lost from the charts. A later second sorts after."""
    import os

    latest = 0
    for p in run_dir.glob("events.out.tfevents.*"):
        parts = p.name.split(".")
        if len(parts) > 5 and parts[3].isdigit() and parts[5] != str(os.getpid()):
            latest = max(latest, int(parts[3]))
    delay = latest + 1 - time.time()
    if delay > 0:
        time.sleep(delay)


class TensorBoardLogger(Callback):
    def __init__(self, run_dir: str | Path, histograms_every_n_epochs: int = 0, figures: bool = True,
                 flush_secs: int = 30, png: bool = True):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = Path(run_dir)
        self.flush_secs = flush_secs
        self.writer = SummaryWriter(str(self.run_dir), flush_secs=flush_secs, purge_step=None)
        self.histograms_every = int(histograms_every_n_epochs or 0)
        self.figures = figures
        self.png = png  # also save what tasks show as PNG files under RUN_DIR/figures/
        self.model = None
        self._last_flush = time.monotonic()
        self._steps: list = []  # (values, step, wall time) of logging steps and epochs not yet handed to the writer
        self._steps_since = 0.0

    def add_scalars(self, values: dict, step: int, walltime: float | None = None) -> None:
        """Several scalars as one event (one ``Summary`` with a value per tag): reads back exactly like separate
        ``add_scalar`` calls, at ~10 us a value instead of ~45-75 us."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=k, simple_value=float(v)) for k, v in values.items()])
        self.writer._get_file_writer().add_summary(summary, step, walltime)

    def hand_over_steps(self) -> None:
        """The waiting scalars (logging steps' and epochs') to the writer, each with the wall time it was logged at."""
        steps, self._steps = self._steps, []
        for values, step, walltime in steps:
            self.add_scalars(values, step, walltime)

    def purge_from(self, step: int) -> None:
        """A resumed run rewrites steps from ``step`` on: hide the old events there (TensorBoard's purge_step)."""
        from torch.utils.tensorboard import SummaryWriter

        self.hand_over_steps()
        self.writer.close()
        wait_past_other_writers(self.run_dir)
        self.writer = SummaryWriter(str(self.run_dir), flush_secs=self.flush_secs, purge_step=step)

    def on_fit_start(self, state) -> None:
        self.model = state.info.get("model_ref")
        if state.global_step:
            # The checkpoint holds every step up to global_step, whose epoch-end scalars were logged at that step:
            # keep those, hide only what the stopped run logged after its checkpoint.
            self.purge_from(state.global_step + 1)
        text = state.info.get("config_yaml")
        if text and not state.global_step:
            self.writer.add_text("config", "```yaml\n" + text + "\n```", 0)
        if not state.global_step:
            self.writer.add_custom_scalars(custom_layout(state.info.get("monitor") or "val/loss"))

    def on_train_log(self, state, scalars) -> None:
        # Per-step values; the epoch means (train/loss, lr, val/...) come at each epoch's end.
        values = {"train/step_loss": scalars["train/loss"]}
        if "grad_norm" in scalars:
            values["train/grad_norm"] = scalars["grad_norm"]
        # trainer.layer_stats, under train_layers/: a section of its own, sorted after train/ and before val/
        values.update({f"train_{k}": v for k, v in scalars.items() if k.startswith("layers/")})
        now = time.monotonic()
        if not self._steps:
            self._steps_since = now
        self._steps.append((values, state.global_step, time.time()))
        if now - self._steps_since >= STEP_HANDOVER_S:
            self.hand_over_steps()

    def on_epoch_end(self, state, metrics) -> None:
        # The epoch's scalars wait with the steps' until the next flush: before it nothing reaches the file anyway.
        # Building the event right after each short epoch (~75 us warm) slowed the next 20 ms epoch by ~0.35 ms in
        # whole runs; once every few seconds it costs nothing measurable (docs/performance.md).
        step = state.global_step
        if not self._steps:
            self._steps_since = time.monotonic()
        self._steps.append(({_tag(k): v for k, v in metrics.items()}, step, time.time()))
        histograms = self.histograms_every and self.model is not None and state.epoch % self.histograms_every == 0
        now = time.monotonic()
        flush = now - self._last_flush >= EPOCH_FLUSH_EVERY_S or state.epoch >= state.max_epochs
        if histograms or flush:
            self.hand_over_steps()
        if histograms:
            for name, p in self.model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", p.detach().float().cpu(), step)
                if p.grad is not None:
                    self.writer.add_histogram(f"grads/{name}", p.grad.detach().float().cpu(), step)
        # Events are lost on a crash unless flushed: the writer thread is a daemon with no exit hook. close() flushes
        # after errors and interrupts; in between, flush every few seconds rather than every (short) epoch.
        if flush:
            self.writer.flush()
            self._last_flush = now

    @property
    def wants_artifacts(self) -> bool:
        return bool(self.figures)

    def on_artifacts(self, state, artifacts: dict) -> None:
        """Figures, images, text and embeddings a task shows (after an epoch, or at the end of the run)."""
        step = state.global_step
        # after an epoch the loop adds "epoch": those files keep the epoch in their name; the final ones do not
        suffix = f"_epoch{int(artifacts['epoch']):03d}" if "epoch" in artifacts else ""
        self.hand_over_steps()
        for tag, fig in (artifacts.get("figures") or {}).items():
            if self.png:
                save_png(fig, self.run_dir / "figures" / f"{_file_tag(tag)}{suffix}.png")
            self.writer.add_figure(tag, fig, step, close=True)
        for tag, img in (artifacts.get("images") or {}).items():
            img = img.detach().float().clamp(0, 1).cpu()
            if self.png:
                save_image_png(img, self.run_dir / "figures" / f"{_file_tag(tag)}{suffix}.png")
            self.writer.add_image(tag, img, step, dataformats="CHW" if img.dim() == 3 else "HW")
        for tag, text in (artifacts.get("text") or {}).items():
            self.writer.add_text(tag, text, step)
        for tag, emb in (artifacts.get("embeddings") or {}).items():
            mat, metadata, label_img, header = (*emb, None)[:4]  # (matrix, metadata, label_images[, header])
            self.writer.add_embedding(mat.detach().float().cpu(), metadata=metadata, label_img=label_img,
                                      global_step=step, tag=tag, metadata_header=header)
        self.writer.flush()

    def on_before_checkpoint(self, state) -> None:
        self.hand_over_steps()
        self.writer.flush()  # what TensorBoard shows never lags the checkpoint a resume starts from
        self._last_flush = time.monotonic()

    def log_final(self, hparams: dict, metrics: dict, figures: dict, swept=()) -> None:
        final = {f"hparam/{k}": float(v) for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
        self.hand_over_steps()
        self.add_hparams(hparams, final, swept)
        if self.figures:
            for tag, fig in figures.items():
                self.writer.add_figure(tag, fig, close=True)
        self.writer.flush()

    def add_hparams(self, hparams: dict, metrics: dict, swept=()) -> None:
        """``SummaryWriter.add_hparams`` into this run's own event file: the session (every key's value and the
        final metrics, in the order given: the dashboard ticks the first five, the run puts its monitored metric
        first) and, for a run of its own, the HParams experiment (its columns).

        A job of a sweep or study (``swept``: the keys it varies) writes no experiment: TensorBoard takes the
        experiment of an arbitrary run among those that have one, and the sweep writes its own at its end
        (:func:`write_band_curves`: the keys that differ between its jobs, which a job cannot know, e.g. the
        learning rate that comes with an optimizer preset). Until then TensorBoard builds one from the sessions,
        the keys whose values differ first."""
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        exp, ssi, sei = hparams_summary(hparams, metrics)
        writer = self.writer._get_file_writer()
        for summary in ((ssi, sei) if swept else (exp, ssi, sei)):
            writer.add_summary(summary)
        if metrics:
            self.add_scalars(metrics, 0)

    def close(self) -> None:
        self.hand_over_steps()  # an interrupted or failed epoch's logging steps too
        self.writer.flush()
        self.writer.close()


def _tag(name: str) -> str:
    """Epoch scalars without a section (``lr``, a task's ``grad_norm``) go under ``train/``."""
    return name if "/" in name else f"train/{name}"


def custom_layout(monitor: str) -> dict:
    """The custom-scalars layout: one chart of the loss (train and val) and one of the monitored metric, each
    with every run of the folder TensorBoard shows."""
    import re

    charts = {"loss (train/loss, val/loss) of every run": ["Multiline", [r"^(train|val)/loss$"]]}
    if monitor not in ("val/loss", "train/loss"):
        charts[f"{monitor} (monitored) of every run"] = ["Multiline", [f"^{re.escape(monitor)}$"]]
    return {"nnml": charts}


SWEEP_EVENTS_SUFFIX = ".sweep"
SWEEP_CATEGORY = "sweep: each configuration's mean over seeds (band: 95% CI of the mean)"
#: the sweep folder's subfolder with one TensorBoard run per configuration (its mean curves and bands)
MEANS_DIR = "means"


def band_tag(metric: str, part: str) -> str:
    return f"sweep/{metric}/{part}"


def hparam_metrics(metrics: dict) -> dict:
    """The final metrics of the HParams tab in the order its columns come (the dashboard ticks the first five):
    the monitored metric and its test counterpart, the losses, the other val and test metrics, train's, then the
    best epoch."""
    final = {k: v for k, v in metrics.items() if k == "best_epoch" or k.split("/")[0] in ("train", "val", "test")}
    monitor = str(metrics.get("monitor") or "val/loss")
    lead = [monitor, f"test/{monitor.split('/', 1)[-1]}", "val/loss", "test/loss", "train/loss"]
    rank = {k: i for i, k in enumerate(lead)}
    section = {"val": 0, "test": 1, "train": 2}
    return dict(sorted(final.items(), key=lambda kv: (rank.get(kv[0], len(lead)),
                                                      section.get(kv[0].split("/")[0], 3))))


def write_band_curves(folder: Path, curves: dict, hparams: dict | None = None, metrics=(),
                      wall_time: float | None = None) -> Path:
    """Each configuration's mean curve with its band, as TensorBoard custom-scalars margin charts: ``curves`` maps
    a metric to ``{configuration label: (epochs, means, lows, highs)}``. Each configuration is a TensorBoard run of
    its own, ``folder/means/<label>`` (TensorBoard colours runs, not series), with the scalars
    ``sweep/<metric>/mean``, ``lower`` and ``upper`` per epoch; ``folder``'s own event file (the run ``.``) holds
    the layout: one margin chart per metric. Earlier files of this kind are replaced.

    ``hparams`` (key -> a value of it) and ``metrics`` (tags): the sweep's HParams experiment, the keys that
    differ between its jobs. TensorBoard takes the experiment of the first run it lists, and lists runs by the time
    of their first event: the sweep folder's own file is dated ``wall_time`` (a second before its first job's
    events, :func:`first_event_time`), so its columns replace those each job logged (the keys it knew were
    swept)."""
    import shutil

    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.plugins.custom_scalar import layout_pb2
    from torch.utils.tensorboard import SummaryWriter

    folder = Path(folder)
    for old in folder.glob(f"events.out.tfevents.*{SWEEP_EVENTS_SUFFIX}"):
        old.unlink()
    shutil.rmtree(folder / MEANS_DIR, ignore_errors=True)
    labels = list(dict.fromkeys(label for by_label in curves.values() for label in by_label))
    for label in labels:
        writer = SummaryWriter(str(folder / MEANS_DIR / label.replace("/", "|")), filename_suffix=SWEEP_EVENTS_SUFFIX)
        try:
            for metric, by_label in curves.items():
                if label not in by_label:
                    continue
                tags = [band_tag(metric, p) for p in ("mean", "lower", "upper")]
                for x, *values in zip(*by_label[label]):
                    writer._get_file_writer().add_summary(
                        Summary(value=[Summary.Value(tag=t, simple_value=float(v)) for t, v in zip(tags, values)]),
                        int(x))
        finally:
            writer.close()
    if not curves and not hparams:
        return folder
    charts = [layout_pb2.Chart(title=metric, margin=layout_pb2.MarginChartContent(series=[
        layout_pb2.MarginChartContent.Series(value=band_tag(metric, "mean"), lower=band_tag(metric, "lower"),
                                             upper=band_tag(metric, "upper"))])) for metric in curves]
    layout = layout_pb2.Layout(category=[layout_pb2.Category(title=SWEEP_CATEGORY, chart=charts)])
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    tensor = TensorProto(dtype="DT_STRING", string_val=[layout.SerializeToString()], tensor_shape=TensorShapeProto())
    summaries = [Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=tensor, metadata=meta)])] if charts else []
    if hparams:
        summaries.append(sweep_experiment(hparams, metrics))
    write_events(folder, summaries, time.time() if wall_time is None else wall_time)
    return folder


def first_event_time(folders) -> float | None:
    """The earliest time in the names of the event files directly in ``folders`` (a writer puts its start time
    there), or None when they have none."""
    times = []
    for f in folders:
        for p in Path(f).glob("events.out.tfevents.*"):
            try:
                times.append(float(p.name.split(".")[3]))
            except (IndexError, ValueError):
                continue
    return min(times) if times else None


def write_events(folder: Path, summaries: list, wall_time: float) -> Path:
    """An event file in ``folder`` whose events (the file version, then ``summaries``) are all dated ``wall_time``:
    SummaryWriter dates each event by the clock."""
    import socket

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    path = Path(folder) / f"events.out.tfevents.{int(wall_time)}.{socket.gethostname()}{SWEEP_EVENTS_SUFFIX}"
    with open(path, "wb") as f:
        out = RecordWriter(f)
        out.write(Event(wall_time=wall_time, step=0, file_version="brain.Event:2").SerializeToString())
        for summary in summaries:
            out.write(Event(wall_time=wall_time, step=0, summary=summary).SerializeToString())
    return path


def sweep_experiment(hparams: dict, metrics) -> object:
    """The HParams experiment summary of a sweep: ``hparams`` (every one marked as differing) and ``metrics``."""
    from tensorboard.plugins.hparams import plugin_data_pb2
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    plain = {k: (v if isinstance(v, (bool, int, float, str)) else str(v)) for k, v in hparams.items()}
    exp, _ssi, _sei = hparams_summary(plain, {m: 0.0 for m in metrics})
    meta = exp.value[0].metadata.plugin_data
    data = plugin_data_pb2.HParamsPluginData.FromString(meta.content)
    for info in data.experiment.hparam_infos:
        info.differs = True
    meta.content = data.SerializeToString()
    return exp


def _file_tag(tag: str) -> str:
    return tag.replace("/", "_").replace(" ", "_")


def save_png(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def save_image_png(img, path: Path) -> None:
    """A CHW (or HW) float tensor in [0, 1] as a PNG (Pillow, which TensorBoard's images need anyway: no
    matplotlib import for a run whose task draws its own images)."""
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = img.numpy()
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    Image.fromarray((np.clip(arr, 0, 1) * 255).round().astype(np.uint8)).save(path)


def _select(config: dict, key: str, default="-"):
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def hparams_of(config: dict, choices: dict, override_keys=(), swept=()) -> dict:
    """The run's hyperparameters (``config``: the resolved config as plain data), flattened with scalar values,
    under keys that are the same for every run: the group choices, a fixed set of commonly swept keys, and the keys
    this run overrode (a sweep overrides the same keys in every job), the keys the sweep varies (``swept``) first. A
    key a run's config lacks (momentum under Adam) is logged as "-"."""
    common = ["seed", "optimizer.lr", "optimizer.weight_decay", "dataset.batch_size", "trainer.max_epochs",
              "trainer.precision", "model.hidden", "model.activation", "model.dropout"]
    varied = [k for k in swept if not k.startswith("hydra")]
    keys = list(dict.fromkeys(common + [k.lstrip("+~") for k in override_keys if not k.startswith("hydra")]))
    out: dict = {}
    for key in varied:  # first: the HParams dashboard shows its first columns
        if key in choices:
            out[key] = str(choices[key])
    out.update({group: str(choice) for group, choice in sorted(choices.items()) if choice is not None
                and group not in out})
    for key in [*varied, *keys]:
        if key in out:
            continue
        value = _select(config, key)
        if isinstance(value, (list, tuple, dict)) or value is None:
            value = str(value)
        out[key] = value
    first = [k for k in varied if k in out]
    return {**{k: out[k] for k in first}, **{k: v for k, v in out.items() if k not in first}}
