"""OFR-FL / OFR-CB / OFR-DB: objective-function reshaping of the KL loss for imbalanced LDL.

Zhao, Xu, Wang, Jiang & Wang. "Imbalanced Label Distribution Learning". AAAI 2023 — the baselines
that reshape the element-wise KL with the re-weighting losses of long-tailed classification:
focal loss (Lin et al., ICCV 2017), class-balanced loss (Cui et al., CVPR 2019) and
distribution-balanced loss (Wu et al., ECCV 2020). Equations as in spec §3.
"""
from __future__ import annotations

import torch

from ..config import Param
from .base import SingleNet

DB_KAPPA = 0.05  # prior-bias scale ν_c = κ · log(N/n_c − 1)
DB_LAMBDA = 2.0  # negative-tolerant scale
DB_GUARD = 1e-4  # N/n_c − 1 ≤ 0 when a label holds ≥ half (or all) of the mass: keep the log finite


def _freq(label_mass: torch.Tensor) -> torch.Tensor:
    """n_c with labels absent from training counted as 1 (the reference's guard against 1/0)."""
    return torch.where(label_mass > 0, label_mass, torch.ones_like(label_mass))


def class_balanced_weights(label_mass: torch.Tensor, beta: float) -> torch.Tensor:
    """(C,) w_c = (1 − β)/(1 − β^{n_c}) with n_c the total training degree of label c (Cui et al. eq. 3)."""
    n = label_mass.clamp_min(1e-3)
    return (1 - beta) / (1 - beta**n)


def db_prior_shift(label_mass: torch.Tensor, n_samples: int) -> torch.Tensor:
    """(C,) the logit shift −κ·log(N/n_c − 1) of the distribution-balanced loss, guarded."""
    return -DB_KAPPA * torch.log((n_samples / _freq(label_mass) - 1).clamp_min(DB_GUARD))


def db_rebalance(y: torch.Tensor, label_mass: torch.Tensor) -> torch.Tensor:
    """(B, C) DB re-balancing weight sigmoid(10·(r_ic − 0.9)) + 0.1, r_ic = (1/n_c) / Σ_j y_ij/n_j."""
    inv = 1.0 / _freq(label_mass)  # (C,)
    r = inv[None, :] / (y * inv[None, :]).sum(-1, keepdim=True).clamp_min(1e-12)
    return torch.sigmoid(10.0 * (r - 0.9)) + 0.1


def ofr_loss(z: torch.Tensor, y: torch.Tensor, stats_mass: torch.Tensor, n_samples: int, *, gamma: float,
             cb_beta: float | None = None, db: bool = False, neg_weight: bool = True) -> torch.Tensor:
    """Reshaped KL: mean over the B×C entries of w_ic · y_ic log(y_ic / p_ic). z, y (B, C) → scalar.

    FL: w = (1 − p)^γ; CB: × class-balanced w_c; DB: × re-balancing weight, with logits first
    shifted by the prior bias and scaled negative-tolerantly, z ← λz(1 − y) + zy (λ = 2). With
    `neg_weight` (the RDA reference code, and the 1/λ of Wu et al.'s negative-tolerant loss) the weight's
    negative part is scaled back by the same λ: w ← w/λ·(1 − y) + w·y, so the sharper negative logits do
    not also count λ times more.
    """
    if db:
        z = z + db_prior_shift(stats_mass, n_samples)[None, :]
        z = DB_LAMBDA * z * (1 - y) + z * y
    logp = torch.log_softmax(z, -1)
    ell = torch.where(y > 0, y * (torch.log(y.clamp_min(1e-8)) - logp), torch.zeros_like(y))  # (B, C)
    w = (1 - logp.exp()) ** gamma  # focal factor, from the regularised logits as in the reference
    if cb_beta is not None:
        w = w * class_balanced_weights(stats_mass, cb_beta)[None, :]
    if db:
        rb = db_rebalance(y, stats_mass)  # (B, C)
        if neg_weight:
            rb = rb / DB_LAMBDA * (1 - y) + rb * y
        w = w * rb
    return (w * ell).mean()


class _OFR(SingleNet):
    paper = "Zhao et al. Imbalanced Label Distribution Learning. AAAI, 2023 (OFR baselines)."
    kind = "fl"
    params = (Param("gamma", "float", 2.0, "focal exponent γ in (1 − p)^γ", 0.0, 10.0),)

    def build(self) -> None:
        super().build()
        self.mass = torch.as_tensor(self.stats.label_mass, dtype=torch.float32, device=self.device)

    def loss(self, z, y):
        beta = self.cfg.get("beta") if self.kind in ("cb",) else None
        return {"loss": ofr_loss(z, y, self.mass, self.stats.n, gamma=self.cfg["gamma"], cb_beta=beta,
                                 db=self.kind == "db", neg_weight=self.cfg.get("neg_weight", True))}


class OFRFL(_OFR):
    name = "ofr-fl"
    title = "OFR-FL — KL reshaped by the focal factor"
    kind = "fl"


class OFRCB(_OFR):
    name = "ofr-cb"
    title = "OFR-CB — focal + class-balanced weights"
    kind = "cb"
    params = _OFR.params + (Param("beta", "float", 0.9, "class-balanced β in (1 − β)/(1 − β^{n_c})", 0.0, 0.9999),)


class OFRDB(_OFR):
    name = "ofr-db"
    title = "OFR-DB — focal + distribution-balanced re-weighting"
    kind = "db"
    params = _OFR.params + (Param("neg_weight", "bool", True, "scale the weight of the negative part back by λ "
                                  "(RDA reference code; off = logits only)"),)


__all__ = ["OFRFL", "OFRCB", "OFRDB", "ofr_loss"]
