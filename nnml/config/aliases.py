"""Where nnml's parts lived before each kind of learning got its own folder (nnml 0.1.0), and where they are now.

Run folders written before the move name the old ``_target_`` paths in their saved configs (``nnml.models.unet.UNet``),
and so may a user's own config. :func:`upgrade` maps such a path to today's (``nnml.tasks.segmentation.unet.UNet``)
wherever nnml reads a ``_target_``, so those folders evaluate, resume and predict as before. docs/architecture.md
lists the table.
"""

from __future__ import annotations

# old module -> new module
MODULES = {
    "nnml.augment.paired": "nnml.tasks.segmentation.augment",
    "nnml.augment.view_ops": "nnml.tasks.representation.view_ops",
    "nnml.augment.views": "nnml.tasks.representation.views",
    "nnml.build": "nnml.run.build",
    "nnml.data.ag_news": "nnml.tasks.text.ag_news",
    "nnml.data.image_masks": "nnml.tasks.segmentation.image_masks",
    "nnml.data.interactions": "nnml.tasks.recsys.datasets",
    "nnml.data.langid": "nnml.tasks.text.langid",
    "nnml.data.movielens": "nnml.tasks.recsys.movielens",
    "nnml.data.ner": "nnml.tasks.text.ner",
    "nnml.data.seg_splits": "nnml.tasks.segmentation.splits",
    "nnml.data.shapes": "nnml.tasks.segmentation.shapes",
    "nnml.data.toy2d": "nnml.tasks.generative.toy2d",
    "nnml.data.translation": "nnml.tasks.text.pairs",
    "nnml.evaluate": "nnml.run.restore",
    "nnml.generative.ema": "nnml.tasks.generative.ema",
    "nnml.generative.features": "nnml.tasks.generative.features",
    "nnml.generative.frechet": "nnml.tasks.generative.frechet",
    "nnml.generative.gan_nets": "nnml.tasks.generative.gan_nets",
    "nnml.generative.losses": "nnml.tasks.generative.losses",
    "nnml.generative.nets": "nnml.tasks.generative.nets",
    "nnml.generative.plots": "nnml.tasks.generative.plots",
    "nnml.generative.sampling": "nnml.tasks.generative.sampling",
    "nnml.generative.toy_measures": "nnml.tasks.generative.toy_measures",
    "nnml.generative.vae_nets": "nnml.tasks.generative.vae_nets",
    "nnml.launch": "nnml.run.launch",
    "nnml.models.encoder": "nnml.tasks.representation.encoder",
    "nnml.models.fcn": "nnml.tasks.segmentation.fcn",
    "nnml.models.seq2seq": "nnml.tasks.text.seq2seq",
    "nnml.models.tagger": "nnml.tasks.text.tagger",
    "nnml.models.text": "nnml.tasks.text.classifiers",
    "nnml.models.unet": "nnml.tasks.segmentation.unet",
    "nnml.notation": "nnml.config.notation",
    "nnml.recsys.als": "nnml.tasks.recsys.als",
    "nnml.recsys.figures": "nnml.tasks.recsys.figures",
    "nnml.recsys.interactions": "nnml.tasks.recsys.interactions",
    "nnml.recsys.metrics": "nnml.tasks.recsys.metrics",
    "nnml.recsys.models": "nnml.tasks.recsys.models",
    "nnml.recsys.spark": "nnml.tasks.recsys.spark",
    "nnml.recsys.splits": "nnml.tasks.recsys.splits",
    "nnml.targets": "nnml.config.targets",
    "nnml.tasks.autoencoder": "nnml.tasks.representation.autoencoder",
    "nnml.tasks.contrastive": "nnml.tasks.representation.contrastive",
    "nnml.tasks.distill": "nnml.tasks.distill.task",
    "nnml.tasks.embedding_plot": "nnml.tasks.representation.figures",
    "nnml.tasks.figures": "nnml.tasks.supervised.figures",
    "nnml.tasks.finetune": "nnml.tasks.representation.finetune",
    "nnml.tasks.gan": "nnml.tasks.generative.gan",
    "nnml.tasks.probe": "nnml.tasks.representation.probe",
    "nnml.tasks.recommendation": "nnml.tasks.recsys.task",
    "nnml.tasks.regularize": "nnml.tasks.supervised.regularize",
    "nnml.tasks.representation": "nnml.tasks.representation.base",
    "nnml.tasks.seg_figures": "nnml.tasks.segmentation.figures",
    "nnml.tasks.seg_losses": "nnml.tasks.segmentation.losses",
    "nnml.tasks.seg_metrics": "nnml.tasks.segmentation.metrics",
    "nnml.tasks.segmentation": "nnml.tasks.segmentation.task",
    "nnml.tasks.seq2seq": "nnml.tasks.text.translate",
    "nnml.tasks.ssl_losses": "nnml.tasks.representation.losses",
    "nnml.tasks.supervised": "nnml.tasks.supervised.task",
    "nnml.tasks.text_classification": "nnml.tasks.text.classify",
    "nnml.tasks.token_classification": "nnml.tasks.text.tag",
    "nnml.tasks.vae": "nnml.tasks.generative.vae",
    "nnml.text.batches": "nnml.tasks.text.batches",
    "nnml.text.data": "nnml.tasks.text.data",
    "nnml.text.decode": "nnml.tasks.text.decode",
    "nnml.text.figures": "nnml.tasks.text.figures",
    "nnml.text.metrics": "nnml.tasks.text.metrics",
    "nnml.text.po": "nnml.tasks.text.po",
    "nnml.text.predict": "nnml.tasks.text.predict",
    "nnml.text.tokenizers": "nnml.tasks.text.tokenizers",
    "nnml.train": "nnml.run.train",
}


def upgrade(target: str) -> str:
    """Today's path of ``target``: an old module's name followed by one attribute (``nnml.tasks.supervised.
    SupervisedTask``) moves with its module; anything else (a path that is already new, such as
    ``nnml.tasks.supervised.task.SupervisedTask``, or not nnml's) is returned as it is."""
    target = str(target)
    if not target.startswith("nnml."):
        return target
    module, _, attr = target.rpartition(".")
    new = MODULES.get(module)
    return f"{new}.{attr}" if new is not None and attr.isidentifier() else target
