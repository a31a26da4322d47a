"""Alternating least squares for implicit feedback (Hu, Koren and Volinsky, "Collaborative Filtering for Implicit
Feedback Datasets", ICDM 2008), and for explicit ratings, in torch with batched solves on CPU or CUDA.

Implicit: every (user, item) cell has preference p = 1 if observed else 0 and confidence c = 1 + alpha * r for
observed cells (r the interaction value), 1 elsewhere. Minimize sum_ui c_ui (p_ui - x_u.y_i)^2 + reg (|X|^2 + |Y|^2).
With Y fixed, each user's factors solve
    (Y^T Y + reg I + sum_{i in I(u)} (c_ui - 1) y_i y_i^T) x_u = sum_{i in I(u)} c_ui y_i,
so Y^T Y is computed once per half-iteration and each user adds only its own items (the paper's trick). Then the
same for items with X fixed. One iteration (users, then items) is one epoch of the loop.

Explicit: minimize sum over observed (r_ui - x_u.y_i)^2 + reg (|X|^2 + |Y|^2): the same solve without Y^T Y,
weights 1 and targets r.

Solvers: ``cholesky`` (exact: the normal equations of a block of users are formed with one ``bmm`` over their
padded item lists and solved by a batched Cholesky), or ``cg`` (a few conjugate-gradient steps from the previous
factors, as ``implicit`` does by default; the matrix is never formed). Rows are grouped by length into blocks of
about ``block_size`` padded entries, so padding stays small and memory bounded.

``implicit`` (benfred/implicit) uses confidence ``alpha * value``: giving it the values ``1 + alpha * r`` with
its alpha = 1 solves exactly this model (``scripts/bench_als.py``, ``tests/hw6``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from nnml.errors import bad_choice
from nnml.tasks.recsys.interactions import Interactions, Rows

SOLVERS = ("cholesky", "cg")



@dataclass
class Block:
    rows: torch.Tensor    # (B,) which users (items) this block solves
    cols: torch.Tensor    # (B, L) their items (users), padded with 0
    weight: torch.Tensor  # (B, L) c - 1 (implicit) or 1 (explicit); 0 at padding
    target: torch.Tensor  # (B, L) c * p (implicit) or r (explicit); 0 at padding


def make_blocks(rows: Rows, weight: torch.Tensor, target: torch.Tensor, block_size: int) -> list[Block]:
    """Rows with at least one entry, longest first, cut into blocks of at most ``block_size`` padded entries."""
    lens = rows.lengths()
    order = torch.argsort(lens, descending=True, stable=True)
    order = order[lens[order] > 0]
    blocks, start = [], 0
    sorted_lens = lens[order].tolist()
    while start < len(order):
        width = sorted_lens[start]
        count = max(1, min(len(order) - start, block_size // max(width, 1)))
        # End the block where rows get much shorter than its width: padding stays under a third of the entries.
        shorter = torch.searchsorted(-lens[order[start:start + count]], torch.tensor(-(width * 3 // 4)), right=True)
        count = max(1, min(count, int(shorter)))
        r = order[start:start + count]
        ln = lens[r]
        offs = torch.arange(width, device=ln.device)
        valid = offs[None, :] < ln[:, None]
        pos = (rows.indptr[r][:, None] + offs[None, :]).clamp(max=max(len(rows.indices) - 1, 0))
        cols = torch.where(valid, rows.indices[pos], torch.zeros_like(pos))
        w = torch.where(valid, weight[pos], torch.zeros((), dtype=weight.dtype, device=weight.device))
        t = torch.where(valid, target[pos], torch.zeros((), dtype=target.dtype, device=target.device))
        blocks.append(Block(r, cols, w, t))
        start += count
    return blocks


class ALS(nn.Module):
    """User and item factor matrices updated by closed-form solves; no optimizer, no backward.

    ``factors``: latent dimension; ``regularization``: L2 weight (``implicit``'s default 0.01); ``alpha``:
    confidence slope (c = 1 + alpha r); ``feedback``: ``implicit`` or ``explicit``; ``solver``: ``cholesky`` or
    ``cg`` with ``cg_steps``; ``init_scale``: initial factors are uniform in [0, init_scale) (as ``implicit``)."""

    fits_whole_data = True  # one epoch is one update over all the data (a single step of the loop)

    def __init__(self, num_users: int, num_items: int, factors: int = 64, regularization: float = 0.01,
                 alpha: float = 1.0, feedback: str = "implicit", solver: str = "cholesky", cg_steps: int = 3,
                 init_scale: float = 0.01, block_size: int = 4096, dtype: str = "float32"):
        super().__init__()
        if solver not in SOLVERS:
            raise bad_choice("model.solver", solver, SOLVERS)
        if feedback not in ("implicit", "explicit"):
            raise bad_choice("model.feedback", feedback, ("implicit", "explicit"))
        dt = getattr(torch, dtype)
        self.factors, self.regularization, self.alpha = int(factors), float(regularization), float(alpha)
        self.feedback, self.solver, self.cg_steps = feedback, solver, int(cg_steps)
        self.block_size = int(block_size)
        # Parameters (not buffers) so that the run's header counts them; no gradient ever flows into them.
        self.user_factors = nn.Parameter(torch.rand(num_users, self.factors, dtype=dt) * init_scale,
                                         requires_grad=False)
        self.item_factors = nn.Parameter(torch.rand(num_items, self.factors, dtype=dt) * init_scale,
                                         requires_grad=False)
        self._train: Interactions | None = None

    # ------------------------------------------------------------------ fitting
    def prepare(self, train: Interactions) -> None:
        """Precompute the padded blocks of both sides from the training interactions (data only: rebuilt on
        resume, not checkpointed)."""
        device, dt = self.user_factors.device, self.user_factors.dtype
        train = train.to(device)
        self._train = train
        sides = {}
        for by in ("user", "item"):
            rows = train.rows(by)
            v = rows.values.to(dt)
            if self.feedback == "implicit":
                weight, target = self.alpha * v, 1.0 + self.alpha * v
            else:
                weight, target = torch.ones_like(v), v
            shape = (rows.num_rows, rows.num_cols)

            def csr(v):
                with warnings.catch_warnings():  # CSR tensors are "beta"; sampled_addmm and CSR @ dense are old
                    warnings.simplefilter("ignore", UserWarning)
                    return torch.sparse_csr_tensor(rows.indptr, rows.indices, v, shape, check_invariants=False)
            sides[by] = {"crow": rows.indptr, "col": rows.indices, "weight": weight, "shape": shape,
                         "pattern": csr(torch.ones_like(v)), "target_csr": csr(target)}
            if self.solver == "cholesky":
                sides[by]["blocks"] = make_blocks(rows, weight, target, self.block_size)
        self._sides = sides
        self._empty = {by: (train.rows(by).lengths() == 0) for by in ("user", "item")}

    @torch.no_grad()
    def iteration(self) -> None:
        """One ALS sweep: users from items, then items from users."""
        if self._train is None:
            raise RuntimeError("ALS.prepare(train) must be called before iterating")
        self._half(self.user_factors, self.item_factors, self._sides["user"], self._empty["user"])
        self._half(self.item_factors, self.user_factors, self._sides["item"], self._empty["item"])

    def _half(self, X: torch.Tensor, Y: torch.Tensor, side: dict, empty: torch.Tensor) -> None:
        f = self.factors
        eye = torch.eye(f, dtype=Y.dtype, device=Y.device)
        base = (Y.T @ Y if self.feedback == "implicit" else torch.zeros_like(eye)) + self.regularization * eye
        if self.solver == "cg":
            self._cg_half(X, Y, side, base)
            X[empty] = 0.0
            return
        for b in side["blocks"]:
            Yb = Y.index_select(0, b.cols.view(-1)).view(*b.cols.shape, f)  # (B, L, f); 2x faster than Y[cols]
            rhs = torch.bmm(b.target.unsqueeze(1), Yb).squeeze(1)   # (B, f) = sum_i target_i y_i
            A = torch.baddbmm(base.expand(len(b.rows), f, f), Yb.transpose(1, 2), Yb * b.weight.unsqueeze(-1))
            L, info = torch.linalg.cholesky_ex(A)
            x = torch.cholesky_solve(rhs.unsqueeze(-1), L).squeeze(-1)
            if bool((info != 0).any()):  # not positive definite in this precision: fall back to LU
                bad = info != 0
                x[bad] = torch.linalg.solve(A[bad], rhs[bad])
            X[b.rows] = x
        X[empty] = 0.0  # no interactions: the solution of the implicit system is 0 (and the explicit one)

    def _cg_half(self, X: torch.Tensor, Y: torch.Tensor, side: dict, base: torch.Tensor) -> None:
        """A few conjugate-gradient steps for every row at once from the previous factors, never forming A:
        A p = p base + sum_i w_i (y_i.p) y_i, the inner sum as a sampled dense product (SDDMM) and a sparse-dense
        product (SpMM) over the CSR of the training matrix."""
        crow, col, w, pattern, shape = side["crow"], side["col"], side["weight"], side["pattern"], side["shape"]

        def matvec(p):
            s = torch.sparse.sampled_addmm(pattern, p, Y.T, beta=0.0).values()
            return p @ base + torch.sparse_csr_tensor(crow, col, w * s, shape, check_invariants=False) @ Y

        x = X.clone()
        r = side["target_csr"] @ Y - matvec(x)
        p = r.clone()
        rs = (r * r).sum(-1)
        for _ in range(self.cg_steps):
            active = rs > 1e-20
            Ap = matvec(p)
            step = torch.where(active, rs / (p * Ap).sum(-1).clamp_min(1e-30), torch.zeros_like(rs))
            x += step.unsqueeze(-1) * p
            r -= step.unsqueeze(-1) * Ap
            rs_new = (r * r).sum(-1)
            p = r + torch.where(active, rs_new / rs.clamp_min(1e-30), torch.zeros_like(rs)).unsqueeze(-1) * p
            rs = rs_new
        X.copy_(x)

    @torch.no_grad()
    def loss(self) -> torch.Tensor:
        """The training objective, normalized as ``implicit``'s ``calculate_loss`` (by the total confidence of
        all cells) for implicit feedback; the mean squared error plus penalty per rating for explicit."""
        t, X, Y = self._train, self.user_factors, self.item_factors
        s = (X[t.users] * Y[t.items]).sum(-1).double()
        v = t.values.double()
        reg = self.regularization * (X.double().pow(2).sum() + Y.double().pow(2).sum())
        if self.feedback == "implicit":
            c = 1.0 + self.alpha * v
            every = ((X.T.double() @ X.double()) * (Y.T.double() @ Y.double())).sum()  # sum over all cells of s^2
            total = every + (c * (1 - s) ** 2 - s ** 2).sum() + reg
            return total / (c.sum() + X.shape[0] * Y.shape[0] - len(t))
        return (((v - s) ** 2).sum() + reg) / max(len(t), 1)

    # ------------------------------------------------------------------ scoring
    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_factors[users] @ self.item_factors.T

    def predict(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.user_factors[users] * self.item_factors[items]).sum(-1)

    def item_vectors(self) -> torch.Tensor:
        return self.item_factors
