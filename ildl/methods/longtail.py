"""Long-tailed classification under label shift: CE, PC softmax, logit adjustment, balanced softmax, LADE.

Hong, Han, Choi, Lee, Park & Choi. "Disentangling Label Distribution for Long-tailed Visual Recognition"
(LADE, with PC softmax). CVPR 2021 — spec §5; public code GitHub `hyperconnect/LADE`. Logit adjustment:
Menon et al., ICLR 2021. Balanced softmax: Ren et al., NeurIPS 2020.

One classifier f: x (M, B, d) → logits (M, B, C); what differs is the training loss and the prediction rule
(p_s = training class prior, p_t = test prior):
  train   CE(f + a·log p_s, y) + α·L_LADE        ce, pc: a = 0 · la: a = τ · balanced softmax: a = 1 (log n_y =
                                                  log p_s + const) · lade: a = 1, α = 0.1 (eq. 11)
  L_LADE = −Σ_c p_s(c)·est_c, est_c = mean_{i: y_i=c} f_c(x_i) − s_c − λ·s_c²,
           s_c = logsumexp_i(f_c(x_i) − log p_s(c) − log C) − log N                       (eqs. 12–13, per batch)
  predict ce: argmax f · pc: argmax f + log p_t − log p_s (eq. 3) · la, bs, lade: argmax f + log p_t (eq. 8)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import Param
from ..nets import mlp, mlp_f
from ..stack import Params
from .base import Batch, Loss, Method

KINDS = ("ce", "pc", "la", "bs", "lade")


def lade_regulariser(logits: torch.Tensor, y: torch.Tensor, prior: torch.Tensor, lam, mask: torch.Tensor,
                     mask_absent) -> torch.Tensor:
    """L_LADE per model: logits (M, B, C), y (M, B), prior (M, C), lam (M,), mask (M, B) real rows,
    mask_absent (M,) bool: leave classes absent from the batch out (spec §5) or keep them (reference code)."""
    M, B, C = logits.shape
    real = mask.bool()
    onehot = F.one_hot(y, C).float() * real[..., None]  # (M, B, C)
    n_c = onehot.sum(1)  # (M, C)
    N = real.sum(1).clamp_min(1).float()  # (M,)
    first = (logits * onehot).sum(1) / n_c.clamp_min(1)
    # padded rows get a finite −1e9 (exactly 0 after exp next to a real row; finite gradients when none is real)
    spread = (logits - torch.log(prior)[:, None, :] - math.log(C)).masked_fill(~real[..., None], -1e9)
    second = torch.logsumexp(spread, dim=1) - torch.log(N)[:, None]  # (M, C)
    est = first - second - lam[:, None] * second**2
    keep = torch.where(mask_absent[:, None], (n_c > 0).float(), torch.ones_like(n_c))
    return -(est * prior * keep).sum(-1)


def adjust(kind: str, logits: np.ndarray, p_s: np.ndarray, p_t: np.ndarray) -> np.ndarray:
    """Prediction scores under the test prior p_t: CE as is; PC adds log p_t − log p_s; the rest add log p_t."""
    lt = np.log(np.maximum(p_t, 1e-12))
    if kind == "ce":
        return logits
    if kind == "pc":
        return logits + lt - np.log(np.maximum(p_s, 1e-12))
    return logits + lt


class LTClassifier(Method):
    name = "lt-classifier"
    task = "lt"
    title = "Long-tailed classifier"
    paper = ("Hong, Han, Choi, Lee, Park & Choi. Disentangling Label Distribution for Long-tailed Visual "
             "Recognition. CVPR, 2021.")
    outputs = "logits"
    params = (
        Param("kind", "choice", "ce", "training loss and prediction rule", choices=KINDS),
        Param("tau", "float", 1.0, "τ of the logit-adjusted loss CE(f + τ log p_s)", 0.0, 5.0),
        Param("alpha", "float", 0.1, "α: weight of LADE's regulariser", 0.0, 10.0),
        Param("lam", "float", 0.1, "λ: LADE's second-order term", 0.0, 10.0),
        Param("mask_absent", "bool", True, "LADE: leave classes absent from the batch out of the regulariser (spec "
              "§5); off = the reference code, which keeps them (their first term is 0)"),
    )
    step_terms = ("loss", "ce", "lade")

    def build(self) -> nn.Module:
        return nn.ModuleDict({"net": mlp(self.dims["d"], self.cfg["hidden"], self.dims["C"])})

    def loss(self, P: Params, b: Batch, state: dict[str, torch.Tensor]) -> Loss:
        f = mlp_f(P, "net", b.x)  # (M, B, C)
        prior = self.stat("prior")  # (M, C)
        zero = torch.zeros(self.M, device=self.device)
        a = torch.where(self.flag("kind", "la"), self.col("tau"),
                        torch.where(self.flag("kind", "bs") | self.flag("kind", "lade"), zero + 1, zero))
        ce = F.cross_entropy((f + a.view(-1, 1, 1) * torch.log(prior)[:, None, :]).transpose(1, 2), b.y["y"],
                             reduction="none")  # (M, B)
        t = {"ce": b.mean(ce), "lade": lade_regulariser(f, b.y["y"], prior, self.col("lam"), b.mask,
                                                        self.flag("mask_absent"))}
        alpha = torch.where(self.flag("kind", "lade"), self.col("alpha"), zero)
        t["loss"] = t["ce"] + alpha * t["lade"]
        t["lade"] = torch.where(self.flag("kind", "lade"), t["lade"], torch.full_like(t["lade"], float("nan")))
        return Loss(t, state)

    @torch.no_grad()
    def predict(self, P: Params, x) -> Any:
        return mlp_f(P, "net", x)
