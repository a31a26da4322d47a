"""The gradient-trained rivals of ALS and the baseline every recommender must beat.

- :class:`MF`: biased matrix factorization, r_ui ~ mu + b_u + b_i + p_u.q_i, trained by gradient on the squared
  error of ratings (Koren, Bell and Volinsky, "Matrix factorization techniques for recommender systems", 2009);
  on implicit feedback it is trained on positives (1) against sampled negatives (0).
- :class:`BPR`: Bayesian personalized ranking (Rendle et al., UAI 2009): maximize log sigmoid(s_ui - s_uj) for an
  observed item i and a sampled unobserved item j, s_ui = p_u.q_i + b_i.
- :class:`MostPopular`: every user gets the items with the most training interactions.

Each has ``scores(users) -> (len(users), num_items)`` for ranking, ``predict(users, items)`` for ratings and
``item_vectors()`` for the embedding projector and item-to-item similarity.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nnml.tasks.recsys.interactions import Interactions


class MF(nn.Module):
    """``factors`` latent dimension, ``init_std`` of the factors, ``regularization`` L2 on the factors and biases
    that enter each batch (per rating, as in the SGD of Funk/Koren), ``negatives`` sampled zero-targets per positive
    on implicit feedback."""

    def __init__(self, num_users: int, num_items: int, factors: int = 64, init_std: float = 0.1,
                 regularization: float = 0.02, negatives: int = 4, biases: bool = True):
        super().__init__()
        self.user = nn.Embedding(num_users, factors)
        self.item = nn.Embedding(num_items, factors)
        nn.init.normal_(self.user.weight, std=init_std)
        nn.init.normal_(self.item.weight, std=init_std)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)
        self.biases = bool(biases)
        self.register_buffer("mean", torch.zeros(()))
        self.regularization, self.negatives = float(regularization), int(negatives)

    def fit_mean(self, train: Interactions, explicit: bool) -> None:
        self.mean.fill_(float(train.values.float().mean()) if explicit else 0.0)

    def predict(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        out = (self.user(users) * self.item(items)).sum(-1) + self.mean
        if self.biases:
            out = out + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1)
        return out

    def loss(self, users, items, targets) -> torch.Tensor:
        pred = self.predict(users, items)
        reg = self.user(users).pow(2).sum(-1) + self.item(items).pow(2).sum(-1)
        if self.biases:
            reg = reg + self.user_bias(users).squeeze(-1) ** 2 + self.item_bias(items).squeeze(-1) ** 2
        return F.mse_loss(pred, targets) + self.regularization * reg.mean()

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        out = self.user(users) @ self.item.weight.T + self.mean
        if self.biases:
            out = out + self.user_bias(users) + self.item_bias.weight.T
        return out

    def item_vectors(self) -> torch.Tensor:
        return self.item.weight


class BPR(nn.Module):
    """``factors``, ``init_std``, ``regularization`` (L2 on the vectors of each triple, as ``implicit``'s BPR)."""

    def __init__(self, num_users: int, num_items: int, factors: int = 64, init_std: float = 0.1,
                 regularization: float = 0.01):
        super().__init__()
        self.user = nn.Embedding(num_users, factors)
        self.item = nn.Embedding(num_items, factors)
        self.item_bias = nn.Embedding(num_items, 1)
        nn.init.normal_(self.user.weight, std=init_std)
        nn.init.normal_(self.item.weight, std=init_std)
        nn.init.zeros_(self.item_bias.weight)
        self.regularization = float(regularization)

    def predict(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.user(users) * self.item(items)).sum(-1) + self.item_bias(items).squeeze(-1)

    def loss(self, users, pos, neg) -> torch.Tensor:
        diff = self.predict(users, pos) - self.predict(users, neg)
        reg = self.user(users).pow(2).sum(-1) + self.item(pos).pow(2).sum(-1) + self.item(neg).pow(2).sum(-1)
        return -F.logsigmoid(diff).mean() + self.regularization * reg.mean()

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.user(users) @ self.item.weight.T + self.item_bias.weight.T

    def item_vectors(self) -> torch.Tensor:
        return self.item.weight


class MostPopular(nn.Module):
    """Scores each item by its number of training interactions (the same list for every user)."""

    fits_whole_data = True  # one epoch is one update over all the data (a single step of the loop)

    def __init__(self, num_users: int, num_items: int):
        super().__init__()
        self.register_buffer("counts", torch.zeros(num_items))

    def fit(self, train: Interactions) -> None:
        self.counts.copy_(torch.bincount(train.items, minlength=self.counts.numel()).to(self.counts))

    def predict(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.counts[items]

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.counts.expand(len(users), -1)

    def item_vectors(self) -> torch.Tensor:
        return self.counts.view(-1, 1)
