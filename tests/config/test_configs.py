"""Every option of every config group composes and builds (data, model, loss, optimizer, scheduler, logger),
with sizes decided by the data; every option file starts with its one-line description. Options made for another
task than the supervised one say so in a ``# tasks: ...`` line and are built by that task's own tests."""

from pathlib import Path

import pytest
import torch

from nnml.config import catalog
from nnml.config.targets import Trust
from nnml.run.build import build_criterion, build_data, build_loggers, build_model, build_optimizer, build_scheduler
from tests.conftest import compose

GROUPS = catalog.groups()


def test_every_option_has_a_description():
    for group in GROUPS:
        for option, desc in catalog.options(group).items():
            assert desc, f"{group}/{option}.yaml lacks a first-line '# description'"


def _own_files(option: str, folder: Path) -> list[str]:
    """The overrides of the options that read the user's own files, pointing at small files written here."""
    from tests.data.files import WINE_TARGET, shape_pngs, wine_csv, write_csv

    if option == "csv":
        return [f"dataset.path={wine_csv(folder)}", f"dataset.target={WINE_TARGET}"]
    if option == "image_folder":
        return [f"dataset.root={shape_pngs(folder / 'images', per_class=10)}", "dataset.size=12"]
    if option == "text_csv":
        rows = [["a good film", "pos"], ["a bad film", "neg"], ["fine", "pos"], ["awful", "neg"]] * 5
        return [f"dataset.path={write_csv(folder / 'texts.csv', ['text', 'label'], rows)}"]
    return []


@pytest.mark.parametrize("option", sorted(catalog.supervised_options("dataset")))
def test_every_dataset_builds_and_reports_its_sizes(option, fake_mnist, tmp_path):
    overrides = [f"dataset={option}", *_own_files(option, tmp_path)]
    if option in ("mnist", "fashion_mnist"):
        overrides += [f"dataset.root={fake_mnist}", "dataset.download=false"]
    cfg = compose(overrides)
    data = build_data(cfg.dataset, seed=0, trust=Trust())
    assert data.task in ("classification", "regression")
    assert tuple(data.x_train.shape[1:]) == tuple(data.input_shape)
    assert min(data.sizes().values()) > 0


@pytest.mark.parametrize("option", sorted(catalog.supervised_options("model")))
@pytest.mark.parametrize("dataset", ["digits", "iris"])
def test_every_model_builds_with_data_decided_sizes(option, dataset):
    cfg = compose([f"model={option}", f"dataset={dataset}"])
    data = build_data(cfg.dataset, seed=0, trust=Trust())
    if option == "cnn" and len(data.input_shape) != 3:
        from nnml.errors import NnmlError

        with pytest.raises(NnmlError, match="model=cnn needs image data"):
            build_model(cfg.model, data, Trust())
        return
    if option in ("cnn1d", "gru", "lstm") and len(data.input_shape) != 2:  # sequence models (dataset=mnist1d)
        from nnml.errors import NnmlError

        with pytest.raises(NnmlError, match="needs sequences of shape"):
            build_model(cfg.model, data, Trust())
        return
    model = build_model(cfg.model, data, Trust())
    out = model(data.x_train[:4])
    assert out.shape == (4, data.num_outputs)


@pytest.mark.parametrize("option", sorted(catalog.supervised_options("loss")))
def test_every_loss_builds_on_its_task(option):
    regression = option in ("mse", "mae", "huber", "smooth_l1")
    cfg = compose([f"loss={option}", f"dataset={'diabetes' if regression else 'iris'}"])
    data = build_data(cfg.dataset, seed=0, trust=Trust())
    crit = build_criterion(cfg.loss, data, Trust(), option)
    model = build_model(cfg.model, data, Trust())
    loss = crit(model(data.x_train[:8]), data.y_train[:8])
    assert loss.ndim == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("option", sorted(catalog.supervised_options("optimizer")))
def test_every_optimizer_builds_and_steps(option):
    cfg = compose([f"optimizer={option}", "dataset=iris"])
    data = build_data(cfg.dataset, seed=0, trust=Trust())
    model = build_model(cfg.model, data, Trust())
    opt = build_optimizer(cfg.optimizer, model, Trust())
    assert isinstance(opt, torch.optim.Optimizer)
    before = [p.detach().clone() for p in model.parameters()]
    torch.nn.functional.cross_entropy(model(data.x_train), data.y_train).backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("option", sorted(catalog.supervised_options("scheduler")))
def test_every_scheduler_builds_and_steps(option):
    cfg = compose([f"scheduler={option}", "trainer.max_epochs=6"])
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched, interval = build_scheduler(cfg.get("scheduler"), opt, steps_per_epoch=5, max_epochs=6, monitor_mode="max", trust=Trust())
    if option == "none":
        assert sched is None
        return
    steps = 6 * 5 if interval == "step" else 6
    for _ in range(steps):
        opt.step()
        sched.step(0.5) if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau) else sched.step()
    assert opt.param_groups[0]["lr"] >= 0


@pytest.mark.parametrize("option", sorted(catalog.options("logger")))
def test_every_logger_builds(option, tmp_path):
    cfg = compose([f"logger={option}"])
    loggers = build_loggers(cfg.logger, tmp_path, Trust())
    expected = {"none": 0, "tensorboard": 1, "csv": 1, "all": 2}[option]
    assert len(loggers) == expected
    for lg in loggers:
        lg.close()


@pytest.mark.parametrize("option", sorted(catalog.options("trainer")))
def test_every_trainer_option_validates(option):
    from nnml.config.validate import validate

    validate(compose([f"trainer={option}"]))


def test_model_configs_never_type_data_sizes():
    for path in Path(GROUPS["model"]).glob("*.yaml"):
        text = path.read_text()
        for key in ("input_shape", "num_outputs", "in_features", "num_classes"):
            assert f"\n{key}:" not in text, f"{path.name} types {key}; the dataset decides it"


def test_experiment_presets_compose():
    for option in catalog.options("experiment"):
        cfg = compose([f"experiment={option}"])
        assert "trainer" in cfg


def test_every_preset_says_in_its_description_how_to_run_it():
    """nnml list experiment shows each preset's first comment line: it must hold the command that runs it."""
    for name, text in catalog.options("experiment").items():
        assert f"experiment={name}" in text and "nnml train" in text, (name, text)
