"""task=vae and task=gan through the real CLI on tiny runs: their metrics, pictures and checkpoints; the two
optimizers of the GAN step as configured; nnml eval reproduces the test metrics; nnml sample draws from a run;
bad keys answer one line."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import assert_records_reproduce_metrics, invoke, read_metrics, run_cli, run_dirs

BASE = ["trainer.num_threads=1", "trainer.device=cpu", "logger.tensorboard.flush_secs=1"]
VAE = [*BASE, "task=vae", "model=vae_mlp", "dataset.standardize=unit", "model.hidden=[32]", "model.latent_dim=4",
       "trainer.max_epochs=3", "task.every_n_epochs=2", "task.iw_samples=16", "task.kl_warmup_epochs=1"]
GAN = [*BASE, "task=gan", "model=gan_mlp", "optimizer=gan_adam", "dataset.standardize=unit",
       "model.generator.hidden=[32]", "model.discriminator.hidden=[32]", "model.generator.latent_dim=8",
       "trainer.max_epochs=2", "task.fd_samples=200", "task.every_n_epochs=1", "task.ema_decay=0.9",
       "task.grid_samples=16"]


def _ok(r):
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def _cli(args):
    """The command in this process (no interpreter start-up): exit code and all it printed."""
    result = invoke(list(args))
    return result.exit_code, result.output + (getattr(result, "stderr", "") or "")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return {"NNML_CACHE": str(tmp_path_factory.mktemp("cache"))}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, cache):
    cwd = tmp_path_factory.mktemp("vae")
    _ok(run_cli(["train", *VAE], cwd, env=cache, timeout=900))
    (run,) = run_dirs(cwd)
    return run


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory, cache):
    cwd = tmp_path_factory.mktemp("gan")
    _ok(run_cli(["train", *GAN], cwd, env=cache, timeout=900))
    (run,) = run_dirs(cwd)
    return run


def test_vae_metrics_pictures_and_eval(vae_run, cache, monkeypatch):
    m = read_metrics(vae_run)
    for split in ("val", "test"):
        assert m[f"{split}/nelbo"] == pytest.approx(m[f"{split}/rec"] + m[f"{split}/kl"], rel=1e-6)
    # The importance-weighted bound is tighter than the ELBO (k = 16 samples against 1).
    assert m["test/iw_nll"] < m["test/nelbo"]
    assert m["monitor"] == "val/nelbo" and m["mode"] == "min" and m["directions"]["kl"] == "max"
    # Per-sample -ELBO terms (and the IW bound on test) recompute the means metrics.json reports.
    records = assert_records_reproduce_metrics(vae_run)
    assert "iw_nll" in records["test"][0] and "iw_nll" not in records["val"][0]
    assert records["test"][1] == {"kind": "vae", "beta": 1.0}
    figs = {p.name for p in (vae_run / "figures").glob("*.png")}
    assert {"final_samples.png", "reconstructions.png", "interpolations.png", "latent_scatter.png",
            "samples_epoch002.png"} <= figs
    # Evaluation noise comes from a generator seeded per split: nnml eval gives the same numbers.
    import json

    code, out = _cli(["eval", str(vae_run), "--json"])
    assert code == 0, out
    got = json.loads(out.strip().splitlines()[-1])
    assert got["test/nelbo"] == pytest.approx(m["test/nelbo"], rel=1e-6)
    assert got["test/iw_nll"] == pytest.approx(m["test/iw_nll"], rel=1e-6)


def test_gan_metrics_checkpoint_and_pictures(gan_run):
    m = read_metrics(gan_run)
    assert m["monitor"] == "val/fd" and m["mode"] == "min"
    assert 0.9 < m["test/feature_acc"] <= 1.0  # the feature classifier's own test accuracy
    assert 0 < m["test/fd_floor"] < m["test/fd"] < m["test/fd_noise"] or m["test/fd"] >= m["test/fd_floor"]
    assert 1 <= m["test/classes_covered"] <= 10
    # A Frechet distance has no per-sample records: none are written, and no intervals claimed.
    assert not (gan_run / "predictions").exists() and "intervals" not in m
    ckpt = torch.load(gan_run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert set(ckpt["modules"]) == {"generator", "discriminator", "generator_ema"}
    assert set(ckpt["slots"]) == {"generator", "discriminator"}
    assert ckpt["task"]["fixed_z"].shape == (16, 8)
    figs = {p.name for p in (gan_run / "figures").glob("*.png")}
    assert {"samples_epoch001.png", "samples_epoch002.png", "final_samples.png", "class_histogram.png",
            "interpolations.png"} <= figs


def test_sample_command(gan_run, vae_run, cache, tmp_path, monkeypatch):
    import matplotlib.image

    monkeypatch.setenv("NNML_CACHE", cache["NNML_CACHE"])
    out = tmp_path / "g.png"
    code, text = _cli(["sample", str(gan_run), "--n", "16", "--out", str(out)])
    assert code == 0 and "16 samples" in text and out.is_file(), text
    assert matplotlib.image.imread(out).shape[:2] == (4 * 37, 4 * 37)  # 4x4 grid of 8x8 with 1 px pads, x4
    code, text = _cli(["sample", str(vae_run), "--n", "5"])
    assert code == 0 and (vae_run / "samples.png").is_file(), text
    code, text = _cli(["sample", str(gan_run), "--label", "3"])
    assert code == 2 and "--label needs a conditional model" in text and "Traceback" not in text


def test_discriminator_with_lr_zero_stays_unchanged(workdir, monkeypatch, train_in_process):
    from nnml.tasks.generative.gan import GANTask

    start = {}
    setup = GANTask.setup

    def spy(self, builder):
        setup(self, builder)
        start.update({name: {k: v.clone() for k, v in m.state_dict().items()} for name, m in self.modules.items()})

    monkeypatch.setattr(GANTask, "setup", spy)
    result, run = train_in_process("task=gan", "model=gan_mlp", "optimizer=gan_adam", "dataset=ring",
                                   "dataset.n_samples=1000", "dataset.batch_size=100", "model.generator.hidden=[16]",
                                   "model.discriminator.hidden=[16]", "optimizer.discriminator.lr=0",
                                   "task.fd_samples=100", "logger=none", "trainer.max_epochs=1")
    assert result.exit_code == 0, result.output
    ckpt = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    for k, v in ckpt["modules"]["discriminator"].items():
        assert torch.equal(v, start["discriminator"][k]), k
    assert ckpt["slots"]["discriminator"]["optimizer"]["state"], "Adam did step the discriminator (at lr 0)"
    changed = [k for k, v in ckpt["modules"]["generator"].items() if not torch.equal(v, start["generator"][k])]
    assert changed, "the generator trained"


@pytest.mark.parametrize("args, message", [
    (["task=vae", "model=vae_mlp"], "task.likelihood=bernoulli needs values in [0, 1]"),
    (["task=gan", "model=gan_mlp", "task.loss=wgan"], "task.loss=wgan is not valid (did you mean 'wgan_gp'?)"),
    (["task=gan", "model=mlp"], "not task=gan; models for task=gan and dataset=digits: gan_dcgan, gan_mlp"),
    (["task=gan", "model=gan_dcgan", "dataset=ring"], "model.generator.arch=conv needs image data"),
])
def test_bad_keys_answer_one_line(args, message, workdir):
    result = invoke(["train", *BASE[:2], "trainer.max_epochs=1", "logger=none", *args])
    assert result.exit_code == 2, result.output
    text = result.output + (getattr(result, "stderr", "") or "")
    assert message in text and "Traceback" not in text


def test_the_header_names_what_each_task_minimises(vae_run, gan_run):
    """Not the supervised loss=auto (cross_entropy): the VAE minimises the -ELBO, the GAN its GAN loss."""
    assert "loss -ELBO (bernoulli likelihood, beta 1)" in (vae_run / "train.log").read_text()
    assert "loss non-saturating GAN loss" in (gan_run / "train.log").read_text()


def test_pixel_features_give_no_class_histogram(tmp_path):
    """``task.feature_net=identity`` on labelled images measures the Frechet distance on the pixels: no classifier,
    so no class histogram (an argmax over 64 pixels is no class; drawing it with 10 class names crashed the run's
    end with TensorBoard on)."""
    from tests.conftest import compose, train_config

    cfg = compose(["experiment=digits_gan", "trainer.max_epochs=1", "task.feature_net=identity", "task.fd_samples=50",
                   "trainer.num_threads=1", "trainer.device=cpu"])
    train_config(cfg, tmp_path / "run", quiet=True)
    m = read_metrics(tmp_path / "run")
    assert m["test/fd"] > 0 and "test/feature_acc" not in m
    assert not any("classes_covered" in k or "class_kl" in k for k in m)
    assert not (tmp_path / "run" / "figures" / "class_histogram.png").exists()
    assert (tmp_path / "run" / "figures" / "final_samples.png").exists()
