"""M models as one computation: stacked parameters, padded feature rows, functional layers, masked means.

Every tensor a method touches carries a leading model axis M (M = 1 for a single run). Parameters of M
structurally identical models are stacked: a `nn.Linear(in, out)` of each model becomes a weight (M, in, out)
— stored input-major, so a dense layer is one `baddbmm` and a sparse first layer is one `embedding_bag`
over the flattened (M·in, out) table without a copy — and a bias (M, out). Models never interact: the
gradient of Σ_m L_m with respect to model m's slice is ∂L_m/∂θ_m.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SPARSE_DENSITY = 0.2  # below this fraction of non-zeros the first layer runs as an embedding_bag


class Params(dict):
    """name → stacked tensor (M, …), leaves that require grad. Linear weights are (M, in, out)."""

    @classmethod
    def stack(cls, models: Sequence[nn.Module], device: torch.device, dtype: torch.dtype = torch.float32) -> "Params":
        """Stack the parameters of M models built with the same structure (each under its own seed)."""
        out = cls()
        names = [n for n, _ in models[0].named_parameters()]
        linear = {n + ".weight" for n, m in models[0].named_modules() if isinstance(m, nn.Linear)}
        for name in names:
            ps = [dict(m.named_parameters())[name].detach() for m in models]
            t = torch.stack([p.T if name in linear else p for p in ps])
            out[name] = t.to(device=device, dtype=dtype).contiguous().requires_grad_(True)
        return out

    @property
    def M(self) -> int:
        return next(iter(self.values())).shape[0]

    def copy(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.items()}

    @torch.no_grad()
    def assign(self, src: dict[str, torch.Tensor], models: Sequence[int]) -> None:
        """Copy the slices of `src` into these models (model by model: no masked intermediate)."""
        copy_models(src, self, models)


@torch.no_grad()
def copy_models(src: dict[str, torch.Tensor], dst: dict[str, torch.Tensor], models: Sequence[int]) -> None:
    """dst[k][i] ← src[k][i] for every tensor k and model i (one copy per tensor when every model is named)."""
    models = list(models)
    for k, d in dst.items():
        s = src[k]
        if len(models) == d.shape[0]:
            d.copy_(s)
            continue
        for i in models:
            d[i].copy_(s[i])


@dataclass
class Sparse:
    """Rows of M models given by their non-zeros: idx, val (M·B, K) with idx offset into the (M·in) table
    (padding: weight 0 on the model's own first row)."""
    idx: torch.Tensor
    val: torch.Tensor
    M: int


def linear(P: Params, name: str, x: torch.Tensor | Sparse) -> torch.Tensor:
    """y = x W + b per model. x (M, B, in) dense or `Sparse` → (M, B, out)."""
    W, b = P[name + ".weight"], P[name + ".bias"]
    if isinstance(x, Sparse):  # Σ_k val_k · W[idx_k], per model, skipping the zeros a dense matmul multiplies
        M, d_in, d_out = W.shape
        h = F.embedding_bag(x.idx, W.reshape(M * d_in, d_out), per_sample_weights=x.val, mode="sum")
        return h.view(M, -1, d_out) + b[:, None, :]
    return torch.baddbmm(b[:, None, :], x, W)


class Rows:
    """Feature rows of M models (each its own fold), padded to a common length: dense (M, n, d) or sparse."""

    def __init__(self, mats: Sequence[np.ndarray], device: torch.device, sparse: bool | None = None):
        self.M, self.d = len(mats), mats[0].shape[1]
        self.n = [len(m) for m in mats]
        self.device = device
        n_max = max(max(self.n), 1)
        if sparse is None:
            distinct = list({id(m): m for m in mats}.values())
            nnz = sum(int(np.count_nonzero(m)) for m in distinct)
            sparse = nnz < SPARSE_DENSITY * max(1, sum(m.size for m in distinct))
        self.sparse = sparse
        if sparse:
            nz = {}  # models of one stack often share a fold: find each array's non-zeros once
            for m in mats:
                if id(m) not in nz:
                    r, c = np.nonzero(m)
                    nz[id(m)] = (r, c, np.arange(len(r)) - np.searchsorted(r, r))  # rank within its row
            K = max(1, max(int(np.bincount(nz[id(m)][0]).max()) if len(nz[id(m)][0]) else 1 for m in mats))
            idx = np.repeat(np.arange(self.M, dtype=np.int64) * self.d, n_max * K).reshape(self.M, n_max, K)
            val = np.zeros((self.M, n_max, K), np.float32)  # padding: a zero weight on the model's own first row
            for i, m in enumerate(mats):
                r, c, pos = nz[id(m)]
                idx[i, r, pos], val[i, r, pos] = c + i * self.d, m[r, c]  # offset into model i's table rows
            self.idx = torch.as_tensor(idx, device=device)
            self.val = torch.as_tensor(val, device=device)
        else:
            X = np.zeros((self.M, n_max, self.d), np.float32)
            for i, m in enumerate(mats):
                X[i, :len(m)] = m
            self.X = torch.as_tensor(X, device=device)

    def take(self, rows: torch.Tensor) -> torch.Tensor | Sparse:
        """rows (M, B) indices per model → dense (M, B, d) or `Sparse`."""
        ar = torch.arange(self.M, device=rows.device)[:, None]
        if self.sparse:
            K = self.idx.shape[-1]
            return Sparse(self.idx[ar, rows].reshape(-1, K), self.val[ar, rows].reshape(-1, K), self.M)
        return self.X[ar, rows]

    def all(self) -> tuple[torch.Tensor | Sparse, torch.Tensor]:
        """Every row of every model: (features, mask (M, n_max))."""
        n_max = max(max(self.n), 1)
        rows = torch.arange(n_max, device=self.device).expand(self.M, n_max)
        mask = rows < torch.tensor(self.n, device=self.device)[:, None]
        return self.take(rows), mask


def pad(arrays: Sequence[np.ndarray], device: torch.device, fill: float = 0.0, dtype=None) -> torch.Tensor:
    """Per-model arrays (n_i, …) → one tensor (M, n_max, …), padded with `fill`."""
    n_max = max(max(len(a) for a in arrays), 1)
    a0 = np.asarray(arrays[0])
    out = np.full((len(arrays), n_max, *a0.shape[1:]), fill, dtype=dtype or a0.dtype)
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a
    return torch.as_tensor(out, device=device)


def masked_mean(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real rows: v (M, B, …) with mask (M, B) → (M,). Extra axes are averaged too."""
    m = mask.to(v.dtype)
    while m.dim() < v.dim():
        m = m.unsqueeze(-1)
    per_row = v.shape[2:].numel() if v.dim() > 2 else 1
    return (v * m).flatten(1).sum(1) / (m.flatten(1).sum(1) * per_row).clamp_min(1)


def col(values: Sequence[Any], device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """A per-model scalar as a column (M,)."""
    return torch.tensor([float(v) for v in values], dtype=dtype, device=device)


def bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(M,) → (M, 1, …, 1) broadcasting against `like` (M, …)."""
    return v.view(-1, *([1] * (like.dim() - 1)))
