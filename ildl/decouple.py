"""Decoupling a label distribution into its dominant and non-dominant parts (spec §2), batched in torch.

Every function works on any leading axes (…, C) — (B, C) for one model, (M, B, C) for a stack. For y (B, C) with dominant label k = argmax_j y_j and degree d_k:
  dominant one-hot   D̄ = one-hot(k)                         (B, C)
  binary view        b = [d_k, 1 − d_k]                      (B, 2)
  non-dominant       D̂_j = 0 at k, elsewhere either
      "renorm":  y_j / (1 − d_k)                 (AMEMA eq. 3)
      "softmax": exp(y_j) / Σ_{i≠k} exp(y_i)     (DILDL eq. 3)
Predictions decouple the same way: p_k and p̂ = softmax(z without k).
Identity (renorm variant): KL(y‖p) = KL(b‖[p_k, 1−p_k]) + (1 − d_k)·KL(D̂‖p̂).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

EPS = 1e-8  # losses (spec)
VARIANTS = ("renorm", "softmax")


@dataclass
class Decoupled:
    k: torch.Tensor  # (B,) long — dominant label
    dk: torch.Tensor  # (B,) — dominant degree
    onehot: torch.Tensor  # (B, C) — D̄
    binary: torch.Tensor  # (B, 2) — b = [d_k, 1 − d_k]
    nondom: torch.Tensor  # (B, C) — D̂, 0 at k


def _mask(k: torch.Tensor, C: int) -> torch.Tensor:
    """(B, C) bool, True at the dominant position."""
    return F.one_hot(k, C).bool()


def decouple(y: torch.Tensor, variant: str = "renorm", k: torch.Tensor | None = None) -> Decoupled:
    """Split distributions y (B, C); `k` overrides the dominant label (default argmax)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown non-dominant variant '{variant}' ({', '.join(VARIANTS)})")
    C = y.shape[-1]
    k = y.argmax(-1) if k is None else k
    m = _mask(k, C)
    dk = y.gather(-1, k[..., None]).squeeze(-1)
    if variant == "renorm":
        rest = y.masked_fill(m, 0.0)
        # a pure one-hot has no non-dominant mass (1 − d_k = 0): D̂ is then undefined; use uniform
        # over the other labels so it is a distribution; its weight (1 − d_k) in the identity is 0.
        s = rest.sum(-1, keepdim=True)
        uni = (~m).float() / (C - 1)
        nondom = torch.where(s > EPS, rest / s.clamp_min(EPS), uni)
    else:
        nondom = torch.softmax(y.masked_fill(m, float("-inf")), -1)
    return Decoupled(k=k, dk=dk, onehot=m.to(y.dtype), binary=torch.stack([dk, 1 - dk], -1), nondom=nondom)


def recombine(k: torch.Tensor, q: torch.Tensor, nondom: torch.Tensor) -> torch.Tensor:
    """Inverse of decouple: q at k, (1 − q)·p̂ elsewhere. k (B,), q (B,), nondom (B, C) → (B, C)."""
    m = _mask(k, nondom.shape[-1])
    p_hat = nondom.masked_fill(m, 0.0)
    p_hat = p_hat / p_hat.sum(-1, keepdim=True).clamp_min(EPS)
    return torch.where(m, q[..., None].expand_as(p_hat), (1 - q)[..., None] * p_hat)


def log_nondominant(z: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """log p̂ from logits z (B, C): log-softmax over the labels other than k; −inf at k."""
    return torch.log_softmax(z.masked_fill(_mask(k, z.shape[-1]), float("-inf")), -1)


def kl_terms(y: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """The terms y_j (log y_j − log p_j) of KL(y ‖ p), same shape as y; 0 where y_j = 0 (also where log p_j = −inf)."""
    return torch.where(y > 0, y * (torch.log(y.clamp_min(EPS)) - logp), torch.zeros_like(y))


def kl(y: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """KL(y ‖ p) per row, (B,)."""
    return kl_terms(y, logp).sum(-1)


def binary_logp(z: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(B, 2): [log p_k, log(1 − p_k)] from logits z (B, C), exact in log space (no 1 − p cancellation)."""
    lse = torch.logsumexp(z, -1)
    others = torch.logsumexp(z.masked_fill(_mask(k, z.shape[-1]), float("-inf")), -1)
    return torch.stack([z.gather(-1, k[..., None]).squeeze(-1) - lse, others - lse], -1)


def binary_kl(dk: torch.Tensor, z: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """KL([d_k, 1−d_k] ‖ [p_k, 1−p_k]) per row, (B,), with p = softmax(z)."""
    return kl(torch.stack([dk, 1 - dk], -1), binary_logp(z, k))


def identity_terms(y: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three terms of KL(y‖p) = KL(b‖b′) + (1 − d_k)·KL(D̂‖p̂) (renorm variant), each (B,)."""
    dec = decouple(y, "renorm")
    total = kl(y, torch.log_softmax(z, -1))
    dominant = binary_kl(dec.dk, z, dec.k)
    nondom = kl(dec.nondom, log_nondominant(z, dec.k))
    return dict(total=total, dominant=dominant, nondominant=nondom, weight=1 - dec.dk,
                rhs=dominant + (1 - dec.dk) * nondom)


def decoupled_kl(y: torch.Tensor, z: torch.Tensor, alpha: float = 0.5, variant: str = "renorm",
                 k: torch.Tensor | None = None) -> torch.Tensor:
    """α·KL(b‖[p_k, 1−p_k]) + (1−α)·KL(D̂‖p̂) per row (B,): DILDL's decoupled loss (its eqs. 4–6)."""
    d = decouple(y, variant, k)
    return alpha * binary_kl(d.dk, z, d.k) + (1 - alpha) * kl(d.nondom, log_nondominant(z, d.k))


def shape_gradient(y: torch.Tensor, z: torch.Tensor, loss: str = "kl", alpha: float = 0.5,
                   k: torch.Tensor | None = None) -> torch.Tensor:
    """The part of ∂L/∂z that changes the non-dominant *shape* p̂, (B, C), 0 at k.

    On the non-dominant logits, g_j − p̂_j·Σ_{i≠k} g_i removes the direction that only moves the total
    non-dominant mass 1 − p_k (what the binary term acts on). For plain KL this is exactly
    (1 − d_k)(p̂ − D̂) — the attenuation; for the decoupled loss it is (1 − α)(p̂ − D̂), whatever d_k.
    """
    z = z.detach().clone().requires_grad_(True)
    k = y.argmax(-1) if k is None else k
    L = kl(y, torch.log_softmax(z, -1)) if loss == "kl" else decoupled_kl(y, z, alpha, k=k)
    (g,) = torch.autograd.grad(L.sum(), z)
    m = _mask(k, z.shape[-1])
    p_hat = log_nondominant(z.detach(), k).exp()
    g_nd = g.masked_fill(m, 0.0)
    return (g_nd - p_hat * g_nd.sum(-1, keepdim=True)).masked_fill(m, 0.0)


def attenuation_curve(nondom: torch.Tensor, k: int, z: torch.Tensor, d_grid: torch.Tensor,
                      alpha: float = 0.5) -> dict[str, torch.Tensor]:
    """For y(d) = recombine(k, d, D̂) over d in d_grid (G,), the norm of the shape gradient under plain KL
    and under the decoupled loss, plus the raw ∂L/∂z_j on every non-dominant logit. nondom (C,), z (C,).
    k stays the decoupled label along the whole grid (also where d is not the largest degree)."""
    G = d_grid.shape[0]
    kk = torch.full((G,), k, dtype=torch.long)
    y = recombine(kk, d_grid, nondom.expand(G, -1))
    zz = z.expand(G, -1)
    out = {"d": d_grid, "y": y}
    for name in ("kl", "decoupled"):
        out[f"shape_{name}"] = shape_gradient(y, zz, name, alpha, kk).norm(dim=-1)
        zg = zz.detach().clone().requires_grad_(True)
        L = kl(y, torch.log_softmax(zg, -1)) if name == "kl" else decoupled_kl(y, zg, alpha, k=kk)
        (out[f"grad_{name}"],) = torch.autograd.grad(L.sum(), zg)
    return out
