"""OFR-FL / OFR-CB / OFR-DB: objective-function reshaping of the KL loss for imbalanced LDL.

Zhao, An, Xu, Wang & Geng. "Imbalanced Label Distribution Learning". AAAI 2023 — the baselines that reshape
the element-wise KL with the re-weighting losses of long-tailed classification: focal loss (Lin et al.,
ICCV 2017), class-balanced loss (Cui et al., CVPR 2019) and distribution-balanced loss (Wu et al., ECCV
2020), as in the paper's public code (`utils/resample_loss.py` of GitHub ailearn-ml/RDA). Spec §3.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..config import Param
from ..decouple import kl_terms
from ..nets import mlp, mlp_f
from ..stack import Params
from .base import Batch, Loss, Method

DB_KAPPA = 0.05  # prior-bias scale ν_c = κ · log(N/n_c − 1)
DB_LAMBDA = 2.0  # negative-tolerant scale
DB_GUARD = 1e-4  # N/n_c − 1 ≤ 0 only when one label holds all the mass: keep the log finite


def _freq(label_mass: torch.Tensor) -> torch.Tensor:
    """n_c with labels absent from training counted as 1 (the reference's guard against 1/0)."""
    return torch.where(label_mass > 0, label_mass, torch.ones_like(label_mass))


def class_balanced_weights(label_mass: torch.Tensor, beta) -> torch.Tensor:
    """(…, C) w_c = (1 − β)/(1 − β^{n_c}), n_c the total training degree of label c (Cui et al. eq. 3)."""
    n = label_mass.clamp_min(1e-3)
    return (1 - beta) / (1 - beta**n)


def db_prior_shift(label_mass: torch.Tensor, n_samples) -> torch.Tensor:
    """(…, C) the logit shift −κ·log(N/n_c − 1) of the distribution-balanced loss, guarded."""
    return -DB_KAPPA * torch.log((n_samples / _freq(label_mass) - 1).clamp_min(DB_GUARD))


def db_rebalance(y: torch.Tensor, label_mass: torch.Tensor) -> torch.Tensor:
    """(…, B, C) DB re-balancing weight σ(10·(r_ic − 0.9)) + 0.1, r_ic = (1/n_c) / Σ_j y_ij/n_j.
    y (…, B, C), label_mass broadcastable to (…, 1, C)."""
    inv = 1.0 / _freq(label_mass)
    r = inv / (y * inv).sum(-1, keepdim=True).clamp_min(1e-12)
    return torch.sigmoid(10.0 * (r - 0.9)) + 0.1


def ofr_terms(z: torch.Tensor, y: torch.Tensor, label_mass: torch.Tensor, n_samples, *, gamma,
              cb_beta=None, db: bool = False, neg_weight: bool = True) -> torch.Tensor:
    """The reshaped element-wise KL w_ic · y_ic log(y_ic / p_ic), (…, B, C); its mean over B×C is the loss.

    z, y (…, B, C); label_mass (…, 1, C) and n_samples, gamma, cb_beta (…, 1, 1) broadcast per model.
    FL: w = (1 − p)^γ; CB: × class-balanced w_c; DB: × re-balancing weight, on logits first shifted by the prior
    bias and scaled negative-tolerantly, z ← λz(1 − y) + zy (λ = 2). With `neg_weight` (the reference code, and
    the 1/λ of Wu et al.'s negative-tolerant loss) the weight's negative part is scaled back by the same λ:
    w ← w/λ·(1 − y) + w·y, so the sharper negative logits do not also count λ times more.
    """
    if db:
        z = z + db_prior_shift(label_mass, n_samples)
        z = DB_LAMBDA * z * (1 - y) + z * y
    logp = torch.log_softmax(z, -1)
    ell = kl_terms(y, logp)  # (…, B, C) elementwise KL, weighted per label below
    w = (1 - logp.exp()) ** gamma  # focal factor, from the regularised logits as in the reference
    if cb_beta is not None:
        w = w * class_balanced_weights(label_mass, cb_beta)
    if db:
        rb = db_rebalance(y, label_mass)
        if neg_weight:
            rb = rb / DB_LAMBDA * (1 - y) + rb * y
        w = w * rb
    return w * ell


def ofr_loss(z, y, label_mass, n_samples, **kw) -> torch.Tensor:
    """Mean over the B×C entries of `ofr_terms` — for one model: z, y (B, C), label_mass (C,) → scalar."""
    return ofr_terms(z, y, label_mass, n_samples, **kw).mean()


class _OFR(Method):
    family = "ildl"  # the imbalanced-LDL methods of the papers' tables
    paper = "Zhao, An, Xu, Wang & Geng. Imbalanced Label Distribution Learning. AAAI, 2023 (OFR baselines)."
    kind = "fl"
    params = (Param("gamma", "float", 2.0, "focal exponent γ in (1 − p)^γ", 0.0, 10.0),)

    def build(self) -> nn.Module:
        return nn.ModuleDict({"net": mlp(self.dims["d"], self.cfg["hidden"], self.dims["C"])})

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        z = self.adjust(mlp_f(P, "net", b.x))  # (M, B, C), + τ·log p_s under +la
        per_model = lambda v: v.view(-1, 1, 1)  # noqa: E731 — (M,) → (M, 1, 1)
        t = ofr_terms(z, b.y["y"], self.stat("label_mass")[:, None, :], per_model(self.stat("n")),
                      gamma=per_model(self.col("gamma")),
                      cb_beta=per_model(self.col("beta")) if self.kind == "cb" else None, db=self.kind == "db",
                      neg_weight=self.kind == "db" and bool(self.cfg.get("neg_weight", True)))
        return Loss({"loss": b.mean(t)}, state)

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return torch.softmax(mlp_f(P, "net", x), -1)


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
    shape_keys = _OFR.shape_keys + ("neg_weight",)


__all__ = ["OFRFL", "OFRCB", "OFRDB", "ofr_loss", "ofr_terms"]
