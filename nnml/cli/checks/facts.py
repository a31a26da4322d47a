"""What the shipped datasets are, known without building them: their task, input shape and number of outputs.

The checks before a run (:mod:`nnml.cli.checks.semantic`) need these facts to refuse a loss, a monitor or a model that
does not fit the data before any run folder exists. Building the data there would cost seconds for MNIST (or a
download); the facts of every shipped builder are fixed, so they are written down here, and
``tests/cli/test_bad_input.py`` builds each cheap dataset and checks that this table says what the builder returns.
A dataset whose builder is not listed here (a user's own, another track's) is checked by the run itself.
"""

from __future__ import annotations

# builder target -> facts; "num_outputs" may name the dataset key that decides it (spirals' classes).
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
}

# Which way is better for a metric's last name part: the direction trainer.mode must agree with.
HIGHER_IS_BETTER = {"acc", "accuracy", "f1", "r2", "miou", "iou", "dice", "bleu", "chrf", "precision", "recall",
                    "map", "ndcg", "auc", "exact_match", "pixel_acc"}
LOWER_IS_BETTER = {"loss", "mse", "mae", "rmse", "nll", "elbo_loss", "fid", "perplexity", "ppl"}


def dataset_facts(node) -> dict | None:
    """The facts of the dataset config ``node`` (a DictConfig or dict), or None when its builder is not known."""
    target = str(node.get("_target_", "")) if node is not None else ""
    facts = DATASETS.get(target)
    if facts is None:
        return None
    out = dict(facts)
    if isinstance(out["num_outputs"], str):
        value = node.get(out["num_outputs"])
        out["num_outputs"] = int(value) if isinstance(value, int) and value > 0 else 2
    return out


def direction(metric: str) -> str | None:
    """``max`` or ``min`` for a metric whose name says which way is better (val/acc, val/loss), else None."""
    name = str(metric).split("/")[-1].lower()
    if name in HIGHER_IS_BETTER:
        return "max"
    if name in LOWER_IS_BETTER:
        return "min"
    return None
