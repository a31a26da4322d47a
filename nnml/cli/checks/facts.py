"""What the shipped datasets are, known without building them: their kind of data, input shape, number of outputs,
whether the inputs are token ids, and the further facts their models are told (a vocabulary's size, the number of
users).

The checks before a run (:mod:`nnml.cli.checks.semantic`) need these facts to refuse a loss, a monitor or a model that
does not fit the data before any run folder exists. Building the data there would cost seconds for MNIST (or a
download); the facts of every shipped builder are fixed, so they are written down here, and
``tests/cli/test_bad_input.py`` builds each cheap dataset and checks that this table says what the builder returns.
A dataset whose builder is not listed here (a user's own, another track's) is checked by the run itself.
"""

from __future__ import annotations

# builder target -> facts. "task" is the kind of data (DataSplits.task); "tokens": the inputs are token ids
# (integers), read only by models that take a vocabulary; "meta": the facts a model may name besides input_shape and
# num_outputs (DataSplits.meta), with stand-in values where the data decides them (a vocabulary's size). A fact may be
# the name of the dataset key that decides it, or a function of the dataset's config; None: the data decides it
# (a stand-in is used to build models).
_TEXT = {"vocab_size": 64, "pad_id": 0, "max_len": 16}
_PAIRS = {"src_vocab_size": 64, "tgt_vocab_size": 64, "pad_id": 0, "max_len": 16, "max_target_len": 17}
_TAGS = {"vocab_size": 64, "char_vocab_size": 32, "num_tags": 5, "pad_id": 0, "max_len": 16}
_USERS = {"num_users": 20, "num_items": 20}
_POINTS = {"task": "points2d", "input_shape": (2,)}


def _image(n) -> tuple:
    size = n.get("image_size", 32)
    return (int(n.get("channels", 3)), int(size), int(size))


DATASETS: dict[str, dict] = {
    "nnml.data.sklearn_sets.digits": {"task": "classification", "input_shape": (1, 8, 8), "num_outputs": 10},
    "nnml.data.sklearn_sets.iris": {"task": "classification", "input_shape": (4,), "num_outputs": 3},
    "nnml.data.sklearn_sets.wine": {"task": "classification", "input_shape": (13,), "num_outputs": 3},
    "nnml.data.sklearn_sets.breast_cancer": {"task": "classification", "input_shape": (30,), "num_outputs": 2},
    "nnml.data.sklearn_sets.diabetes": {"task": "regression", "input_shape": (10,), "num_outputs": 1},
    "nnml.data.synthetic.moons": {"task": "classification", "input_shape": (2,), "num_outputs": 2},
    "nnml.data.synthetic.circles": {"task": "classification", "input_shape": (2,), "num_outputs": 2},
    "nnml.data.synthetic.xor": {"task": "classification", "input_shape": (2,), "num_outputs": 2},
    "nnml.data.synthetic.spirals": {"task": "classification", "input_shape": (2,), "num_outputs": "classes"},
    "nnml.data.synthetic.function": {"task": "regression", "input_shape": (1,), "num_outputs": 1},
    "nnml.data.idx.mnist": {"task": "classification", "input_shape": (1, 28, 28), "num_outputs": 10},
    "nnml.data.idx.fashion_mnist": {"task": "classification", "input_shape": (1, 28, 28), "num_outputs": 10},
    "nnml.data.mnist1d.mnist1d": {"task": "classification",
                                  "input_shape": lambda n: (1, int(n.get("final_seq_length", 40))), "num_outputs": 10},
    "nnml.tasks.generative.toy2d.grid": {**_POINTS, "num_outputs": "modes", "meta": {"modes": [], "mode_std": 0.1}},
    "nnml.tasks.generative.toy2d.ring": {**_POINTS, "num_outputs": "modes", "meta": {"modes": [], "mode_std": 0.1}},
    "nnml.tasks.generative.toy2d.swiss_roll": {**_POINTS, "num_outputs": 1},
    "nnml.tasks.generative.toy2d.two_moons": {**_POINTS, "num_outputs": 2},
    "nnml.tasks.segmentation.shapes.shapes": {"task": "segmentation", "input_shape": _image,
                                              "num_outputs": lambda n: len(n.get("classes") or ()) + 1,
                                              "meta": {"in_channels": 3, "ignore_index": 255}},
    "nnml.tasks.text.langid.langid": {"task": "classification", "tokens": True, "input_shape": None,
                                      "num_outputs": lambda n: len(n.get("languages") or ()), "meta": _TEXT},
    "nnml.tasks.text.ag_news.ag_news": {"task": "classification", "tokens": True, "input_shape": None,
                                        "num_outputs": 4, "meta": _TEXT},
    "nnml.tasks.text.pairs.numbers": {"task": "seq2seq", "tokens": True, "input_shape": None, "num_outputs": None,
                                      "meta": _PAIRS},
    "nnml.tasks.text.pairs.django_messages": {"task": "seq2seq", "tokens": True, "input_shape": None,
                                              "num_outputs": None, "meta": _PAIRS},
    "nnml.tasks.text.pairs.multi30k": {"task": "seq2seq", "tokens": True, "input_shape": None, "num_outputs": None,
                                       "meta": _PAIRS},
    "nnml.tasks.text.pairs.tsv_pairs": {"task": "seq2seq", "tokens": True, "input_shape": None, "num_outputs": None,
                                        "meta": _PAIRS},
    "nnml.tasks.text.ner.faker_ner": {"task": "tagging", "tokens": True, "input_shape": None, "num_outputs": None,
                                      "meta": _TAGS},
    "nnml.tasks.text.ner.conll2003": {"task": "tagging", "tokens": True, "input_shape": None, "num_outputs": None,
                                      "meta": _TAGS},
    "nnml.tasks.recsys.datasets.synthetic_interactions": {"task": "interactions", "input_shape": (2,),
                                                         "num_outputs": 1, "meta": _USERS},
    "nnml.tasks.recsys.movielens.movielens": {"task": "interactions", "input_shape": (2,), "num_outputs": 1,
                                              "meta": _USERS},
    "nnml.tasks.recsys.movielens.movielens_100k": {"task": "interactions", "input_shape": (2,), "num_outputs": 1,
                                                   "meta": _USERS},
    "nnml.tasks.recsys.interactions_csv.interactions_csv": {"task": "interactions", "input_shape": (2,),
                                                            "num_outputs": 1, "meta": _USERS},
}

# Which way is better for a metric's last name part: the direction trainer.mode must agree with.
HIGHER_IS_BETTER = {"acc", "accuracy", "f1", "r2", "miou", "iou", "dice", "bleu", "chrf", "precision", "recall",
                    "map", "ndcg", "auc", "exact_match", "pixel_acc"}
LOWER_IS_BETTER = {"loss", "mse", "mae", "rmse", "nll", "elbo_loss", "fid", "perplexity", "ppl"}


def dataset_facts(node) -> dict | None:
    """The facts of the dataset config ``node`` (a DictConfig or dict), or None when its builder is not known:
    ``task``, ``input_shape``, ``num_outputs``, ``tokens``, ``meta`` and ``exact`` (the facts the data cannot
    change; the others are stand-ins)."""
    target = str(node.get("_target_", "")) if node is not None else ""
    facts = DATASETS.get(target)
    if facts is None:
        return None
    out = {"tokens": False, "meta": {}, **facts}
    exact = []
    for key in ("input_shape", "num_outputs"):
        value = out[key]
        if callable(value):
            value = value(node)
        elif isinstance(value, str):
            value = node.get(value)
            value = len(value) if isinstance(value, (list, tuple)) or hasattr(value, "__len__") else value
            value = int(value) if isinstance(value, int) and value > 0 else 2
        if value is None:
            value = (16,) if key == "input_shape" else 2  # decided by the data: a stand-in
        else:
            exact.append(key)
        out[key] = tuple(value) if key == "input_shape" else int(value)
    out["meta"] = dict(out["meta"])
    out["exact"] = exact
    return out


def model_facts(facts: dict) -> dict:
    """What a model built on this data is told, by constructor parameter name (as ``DataSplits.facts()``)."""
    return {"input_shape": tuple(facts["input_shape"]), "num_outputs": int(facts["num_outputs"]), **facts["meta"]}


def direction(metric: str) -> str | None:
    """``max`` or ``min`` for a metric whose name says which way is better (val/acc, val/loss), else None."""
    name = str(metric).split("/")[-1].lower()
    if name in HIGHER_IS_BETTER:
        return "max"
    if name in LOWER_IS_BETTER:
        return "min"
    return None
