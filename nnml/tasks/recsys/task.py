"""``task=recommendation``: recommenders on user-item interactions, ranked by the field's metrics.

One runner for models that learn in very different ways (configs/model/{als,mf,bpr,most_popular}.yaml):
- ``model=als``: no optimizer and no backward pass (no slots, ``automatic_optimization = False``); one epoch is
  one closed-form ALS sweep (users, then items), so epochs, checkpoints, exact resume, early stopping and
  TensorBoard work as for any model;
- ``model=mf`` and ``model=bpr``: trained by gradient through the task's one optimizer slot on batches of
  training interactions (BPR and implicit MF draw their negative items from torch's RNG: resumes stay exact);
- ``model=most_popular``: counts, fit at setup; its epoch does nothing.

Evaluation ranks the whole catalogue for every user with held-out items, excluding that user's training items
(and, for test, validation items): precision, recall, MAP, NDCG, hit rate and coverage at each ``ks``, plus RMSE
and MAE on explicit ratings (``nnml/tasks/recsys/metrics.py``). The best epoch is picked by ``val/ndcg@10``.
Figures: metrics against k, popularity of recommended against held-out items, the item embeddings in
TensorBoard's projector with titles and genres.
"""

from __future__ import annotations

import numpy as np
import torch

from nnml.errors import NnmlError
from nnml.tasks.base import Task
from nnml.tasks.capabilities import KeepsRecords
from nnml.tasks.recsys import metrics as M


class OneStepPerEpoch:
    """A batch source with a single empty batch per epoch: for models whose epoch is one whole-data update."""

    num_samples = 1

    def epoch(self, epoch: int, start_batch: int = 0, shard=(0, 1)):
        if start_batch == 0:
            yield {}

    def batches_per_epoch(self, world: int = 1) -> int:
        return 1


class Recommendation(KeepsRecords, Task):
    uses_loss_config = False  # its own objective: a typed loss=... would be ignored
    default_monitor = "val/ndcg@10"

    def __init__(self, k: int = 10, ks=(10,), eval_batch_users: int = 1024, embeddings: bool = True,
                 figures: bool = True, examples: int = 3):
        super().__init__()
        self.k = int(k)
        self.ks = sorted({int(x) for x in ks} | {self.k, 10})
        if min(self.ks) < 1:
            raise NnmlError(f"task.ks={list(ks)} is not valid; every k must be >= 1")
        self.eval_batch_users = int(eval_batch_users)
        self.embeddings, self.figures, self.examples = bool(embeddings), bool(figures), int(examples)
        self.kind = "als"

    # ------------------------------------------------------------------ building
    def setup(self, builder) -> None:
        from nnml.tasks.recsys.als import ALS
        from nnml.tasks.recsys.models import BPR, MF, MostPopular

        data = self._check_data(builder.data)
        self.data = data
        self.explicit = data.feedback == "explicit"
        model = builder.model()
        self.modules = {"model": model}
        device = self.device
        self.train_split = data.train.to(device)
        self.rows = {s: data.interactions(s).to(device).rows("user") for s in ("train", "val", "test")}
        seen = data.train.concat(data.val).to(device) if len(data.val) else self.train_split
        self.rows["train+val"] = seen.rows("user")
        if isinstance(model, ALS):
            if model.feedback == "explicit" and not self.explicit:
                raise NnmlError("model.feedback=explicit needs ratings: set dataset.feedback=explicit")
            self.kind, self.automatic_optimization = "als", False
            model.prepare(self.train_split)
        elif isinstance(model, MostPopular):
            self.kind, self.automatic_optimization = "most_popular", False
            model.fit(self.train_split)
        elif isinstance(model, (MF, BPR)):
            self.kind = "mf" if isinstance(model, MF) else "bpr"
            self.automatic_optimization = True
            if isinstance(model, MF):
                model.fit_mean(self.train_split, self.explicit)
            self.slots = {"model": builder.optimizer([p for p in model.parameters() if p.requires_grad])}
        else:
            raise NnmlError(f"task=recommendation trains model=als, mf, bpr or most_popular; got "
                            f"{type(model).__name__}")

    def _check_data(self, data):
        """Before anything is built (``batches`` runs before ``setup``): interaction data, k within the catalogue."""
        if getattr(data, "task", None) != "interactions":
            raise NnmlError(f"task=recommendation needs interaction data (dataset=synthetic_interactions, "
                            f"movielens_100k or movielens); dataset={data.name} holds {data.task} data")
        n_items = data.meta["num_items"]
        if max(self.ks) > n_items:
            raise NnmlError(f"task.k={max(self.ks)} is larger than the catalogue: dataset={data.name} has {n_items} "
                            f"items; choose k (and every task.ks) <= {n_items}")
        return data

    def batches(self, split: str, builder):
        """Evaluation ranks all users at once (:meth:`evaluate`); training batches are interactions for models
        trained by gradient, one whole-data step for those whose class says ``fits_whole_data`` (ALS, most
        popular). Called before :meth:`setup` (the loop sizes schedulers with it), so it reads the config."""
        self._check_data(builder.data)
        if split != "train" or _fits_whole_data(builder.cfg.model, builder.trust):
            return OneStepPerEpoch()
        t = builder.data.train
        fields = {"users": t.users, "items": t.items}
        if builder.data.feedback == "explicit":  # implicit steps never read the values: no gather of them per batch
            fields["values"] = t.values
        return builder.tensor_batches("train", fields)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch, ctx, metrics):
        model = self.modules["model"]
        if self.kind == "als":
            model.iteration()
            loss = model.loss().float()
            metrics.add("loss", loss)
            return {"loss": loss}
        if self.kind == "most_popular":
            loss = torch.zeros((), device=self.device)
            metrics.add("loss", loss)
            return {"loss": loss}
        users, items = batch["users"], batch["items"]
        n_items = self.data.meta["num_items"]
        if self.kind == "bpr":
            neg = torch.randint(0, n_items, items.shape, device=items.device)
            loss = model.loss(users, items, neg)
        elif self.explicit:
            loss = model.loss(users, items, batch["values"])
        else:  # implicit MF: positives 1 against sampled negatives 0
            r = model.negatives
            neg = torch.randint(0, n_items, (len(users) * r,), device=items.device)
            u = torch.cat([users, users.repeat(r)])
            i = torch.cat([items, neg])
            target = torch.cat([torch.ones(len(users), device=items.device),
                                torch.zeros(len(neg), device=items.device)])
            loss = model.loss(u, i, target)
        metrics.add("loss", loss.detach(), len(users))
        return loss

    def batch_size(self, batch) -> int:
        return len(self.train_split) if not batch else int(batch["users"].shape[0])

    def objective(self) -> str:
        return {"als": "closed-form ALS solves", "most_popular": "counts (no training)",
                "bpr": "BPR (log-sigmoid of sampled pairs)"}.get(self.kind, "MSE" if self.explicit else
                                                                 "MSE against sampled negatives")

    def metric_directions(self) -> dict[str, str]:
        return {"loss": "min", **M.directions(self.ks, getattr(self, "explicit", False))}

    def evaluate(self, split: str, ctx=None) -> dict[str, float]:
        model = self.modules["model"]
        if split == "val" and not len(self.data.val):
            # No validation split (dataset.val_fraction=0): nothing to pick a best epoch by; the last one is tested.
            return {}
        exclude = self.rows["train"] if split == "val" else self.rows["train+val"]
        if getattr(ctx, "recording", False):
            return self._recorded(split, exclude)
        with torch.inference_mode():
            out = M.ranking_metrics(model.scores, self.rows[split], exclude, self.ks, self.eval_batch_users)
            if self.explicit:
                rng = self.data.rating_range
                out.update(M.rating_errors(model.predict, self.data.interactions(split).to(self.device), rng))
        return out

    def _recorded(self, split: str, exclude) -> dict[str, float]:
        """The final evaluation: per-user records (users are the samples; the rating errors summed per user), and
        the metrics computed from them (:mod:`nnml.tasks.recsys.records`: the same numbers as above)."""
        from nnml.tasks.recsys import records as R

        model = self.modules["model"]
        with torch.inference_mode():
            rec = R.ranking_records(model.scores, self.rows[split], exclude, self.ks, self.eval_batch_users)
            out = R.ranking_from_records(rec, self.data.meta["num_items"])
            if self.explicit:
                ratings = R.rating_records(model.predict, self.data.interactions(split).to(self.device),
                                           self.data.rating_range)
                rec.update(R.user_rating_sums(ratings, rec["user"]))
                out.update(R.ratings_from_records(ratings))
        self.keep_split_records(split, rec)
        return out

    def records_spec(self, split: str) -> dict:
        return {"kind": "ranking", "num_items": int(self.data.meta["num_items"])}

    # ------------------------------------------------------------------ using a trained model
    @torch.no_grad()
    def recommend(self, user: int, k: int | None = None) -> list[tuple[int, float]]:
        """(item index, score) of the top ``k`` items for user index ``user``, training and val items excluded."""
        k = self._check_k(k)
        u = torch.tensor([user], device=self.device)
        items, scores = M.top_k(self.modules["model"].scores, u, k, self.rows["train+val"])
        return [(int(i), float(s)) for i, s in zip(items[0], scores[0]) if np.isfinite(float(s))]

    @torch.no_grad()
    def similar(self, item: int, k: int | None = None) -> list[tuple[int, float]]:
        """(item index, cosine similarity) of the ``k`` items closest to ``item`` in the model's item space."""
        k = self._check_k(k, minus=1)
        v = self.modules["model"].item_vectors().float()
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sim = v @ v[item]
        sim[item] = float("-inf")
        top = torch.topk(sim, k)
        return [(int(i), float(s)) for i, s in zip(top.indices, top.values)]

    def history(self, user: int) -> list[tuple[int, float, int]]:
        """(item index, value, timestamp) of the user's training interactions, latest first."""
        t = self.data.train
        sel = torch.nonzero(t.users == user).view(-1)
        rows = sorted(zip(t.items[sel].tolist(), t.values[sel].tolist(), t.timestamps[sel].tolist()),
                      key=lambda r: -r[2])
        return rows

    def _check_k(self, k, minus: int = 0) -> int:
        n = self.data.meta["num_items"] - minus
        k = self.k if k is None else int(k)
        if k < 1 or k > n:
            raise NnmlError(f"--k {k} is not valid: the catalogue has {self.data.meta['num_items']} items; "
                            f"choose 1 <= k <= {n}")
        return k

    def predict(self, inputs: list[str], options: dict) -> list[dict]:
        """``nnml predict RUN_DIR USER...``: each raw user id's top items (``--top K``)."""
        k = options.get("top") or self.k
        rows = []
        for raw in inputs:
            u = self.data.user_index(raw)
            for rank, (i, s) in enumerate(self.recommend(u, k), 1):
                rows.append({"user": raw, "rank": rank, "item": self.data.item_ids[i],
                             "title": self.data.item_titles[i], "score": round(s, 4)})
        return rows

    # ------------------------------------------------------------------ artifacts
    def final_artifacts(self, ctx) -> dict:
        out: dict = {"figures": {}, "text": {}, "embeddings": {}}
        model = self.modules["model"]
        if self.figures:
            from nnml.tasks.recsys import figures

            ks = list(range(1, max(self.ks) + 1))
            with torch.inference_mode():
                curve = M.ranking_metrics(model.scores, self.rows["test"], self.rows["train+val"], ks,
                                          self.eval_batch_users)
            curves = {m: [curve[f"{m}@{k}"] for k in ks] for m in M.RANKING}
            out["figures"]["recsys/metrics_vs_k"] = figures.metrics_vs_k(curves, ks, f"{self.kind} on "
                                                                                     f"{self.data.name} (test)")
            users = torch.nonzero(self.rows["test"].lengths() > 0).view(-1)
            rec = torch.cat([M.top_k(model.scores, users[i:i + self.eval_batch_users], self.k,
                                     self.rows["train+val"])[0].reshape(-1)
                             for i in range(0, len(users), self.eval_batch_users)]) if len(users) else users
            counts = torch.bincount(self.data.train.items, minlength=self.data.meta["num_items"]).numpy()
            out["figures"]["recsys/popularity"] = figures.popularity(counts, rec.cpu().numpy(),
                                                                     self.data.test.items.numpy(), self.k)
        if self.embeddings and self.kind != "most_popular":
            vectors = model.item_vectors().detach().float().cpu()
            meta = [[t, g or "-"] for t, g in zip(self.data.item_titles, self.data.item_genres)]
            out["embeddings"]["items"] = (vectors, meta, None, ["title", "genres"])
        if self.examples:
            lines = []
            for u in range(min(self.examples, self.data.meta["num_users"])):
                recs = ", ".join(self.data.item_titles[i] for i, _ in self.recommend(u, min(self.k, 5)))
                lines.append(f"- user {self.data.user_ids[u]}: {recs}")
            out["text"]["recsys/examples"] = "\n".join(lines)
        return out


def _fits_whole_data(node, trust) -> bool:
    from nnml.config.targets import import_object

    try:
        return bool(getattr(import_object(str(node._target_), trust), "fits_whole_data", False))
    except Exception:  # an unknown target fails later, with the builder's own message
        return False
