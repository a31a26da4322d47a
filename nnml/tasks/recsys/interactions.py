"""User-item interactions: a table of (user, item, value, timestamp) with contiguous integer ids, and the row
views (CSR by user or by item) that the solvers and the ranking metrics read.

Values are ratings (explicit feedback) or interaction strengths (implicit feedback, 1.0 for "seen"). Users and
items are numbered 0..n-1 by the data builder; the raw ids (MovieLens' ``user_id``) stay in the data's ``meta``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nnml.errors import NnmlError


@dataclass
class Interactions:
    """Parallel 1-D tensors of one split (on the CPU, or moved with :meth:`to`)."""

    users: torch.Tensor       # long (n,)
    items: torch.Tensor       # long (n,)
    values: torch.Tensor      # float32 (n,)
    timestamps: torch.Tensor  # long (n,); the row order when the data has no time
    num_users: int
    num_items: int

    def __len__(self) -> int:
        return int(self.users.numel())

    @classmethod
    def from_arrays(cls, users, items, values=None, timestamps=None, *, num_users: int | None = None,
                    num_items: int | None = None) -> "Interactions":
        u = torch.as_tensor(np.asarray(users), dtype=torch.long)
        i = torch.as_tensor(np.asarray(items), dtype=torch.long)
        v = torch.ones(len(u)) if values is None else torch.as_tensor(np.asarray(values), dtype=torch.float32)
        t = torch.arange(len(u)) if timestamps is None else torch.as_tensor(np.asarray(timestamps), dtype=torch.long)
        nu = int(u.max()) + 1 if num_users is None else int(num_users)
        ni = int(i.max()) + 1 if num_items is None else int(num_items)
        return cls(u, i, v, t, nu, ni)

    def take(self, index) -> "Interactions":
        index = torch.as_tensor(index, dtype=torch.long)
        return Interactions(self.users[index], self.items[index], self.values[index], self.timestamps[index],
                            self.num_users, self.num_items)

    def to(self, device) -> "Interactions":
        return Interactions(self.users.to(device), self.items.to(device), self.values.to(device),
                            self.timestamps.to(device), self.num_users, self.num_items)

    def concat(self, other: "Interactions") -> "Interactions":
        return Interactions(torch.cat([self.users, other.users]), torch.cat([self.items, other.items]),
                            torch.cat([self.values, other.values]), torch.cat([self.timestamps, other.timestamps]),
                            self.num_users, self.num_items)

    # ------------------------------------------------------------------ row views
    def rows(self, by: str = "user") -> "Rows":
        """CSR view: for each user (or item) the columns it interacted with and the values, sorted by column."""
        if by == "user":
            r, c, n_rows, n_cols = self.users, self.items, self.num_users, self.num_items
        elif by == "item":
            r, c, n_rows, n_cols = self.items, self.users, self.num_items, self.num_users
        else:
            raise ValueError(by)
        order = torch.argsort(r * n_cols + c)  # row-major, columns sorted: duplicates end up adjacent
        r, c, v = r[order], c[order], self.values[order]
        counts = torch.bincount(r, minlength=n_rows)
        indptr = torch.zeros(n_rows + 1, dtype=torch.long, device=r.device)
        indptr[1:] = torch.cumsum(counts, 0)
        return Rows(indptr, c, v, n_rows, n_cols)

    def matrix(self) -> torch.Tensor:
        """Dense user x item matrix of values (small data and tests only)."""
        m = torch.zeros(self.num_users, self.num_items, device=self.users.device)
        m.index_put_((self.users, self.items), self.values, accumulate=True)
        return m

    def to_scipy(self):
        """scipy CSR user x item, for ``implicit`` and Spark exports."""
        from scipy.sparse import csr_matrix

        return csr_matrix((self.values.cpu().numpy(), (self.users.cpu().numpy(), self.items.cpu().numpy())),
                          shape=(self.num_users, self.num_items), dtype=np.float32)


@dataclass
class Rows:
    """A CSR matrix as three tensors (``indptr``, ``indices``, ``values``)."""

    indptr: torch.Tensor
    indices: torch.Tensor
    values: torch.Tensor
    num_rows: int
    num_cols: int

    def lengths(self) -> torch.Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    def mask(self, rows: torch.Tensor) -> torch.Tensor:
        """Dense bool (len(rows), num_cols): True where row r has column c."""
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lens = ends - starts
        out = torch.zeros(len(rows), self.num_cols, dtype=torch.bool, device=self.indices.device)
        if int(lens.sum()) == 0:
            return out
        which = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), lens)
        offsets = torch.arange(int(lens.sum()), device=rows.device) - torch.repeat_interleave(
            torch.cumsum(lens, 0) - lens, lens)
        out[which, self.indices[torch.repeat_interleave(starts, lens) + offsets]] = True
        return out

    def row(self, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = int(self.indptr[r]), int(self.indptr[r + 1])
        return self.indices[a:b], self.values[a:b]


def check_not_empty(split: Interactions, what: str, hint: str) -> None:
    if len(split) == 0:
        raise NnmlError(f"{what} is empty; {hint}")
